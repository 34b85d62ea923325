"""A strict, signature-checking emulator of the Alibaba Cloud ECI API (2018-08-08)."""
