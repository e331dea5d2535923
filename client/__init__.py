"""A thin TPNS client on httpx that works unchanged against tpns-mock or Tencent."""
