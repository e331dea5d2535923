"""The TPNS protocol, pure: return codes, API paths and regions, signing, the package rules.

The client and the mock share these modules; the mock imports them (the way moto imports
botocore's model), the client never imports the mock. Nothing here does network I/O.
"""
