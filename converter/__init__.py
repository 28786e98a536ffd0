"""DigitLite converter."""
