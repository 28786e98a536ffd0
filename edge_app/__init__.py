"""DigitLite edge side: what ships to the Raspberry Pi and into the APK.

Never imports tensorflow, keras, trainer, converter or benchmarks (tests/test_edge_isolation.py).
"""

__version__ = "0.1.0"
