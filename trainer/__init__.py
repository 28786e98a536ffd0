"""DigitLite trainer."""
