"""The model providers the proxy speaks to, one module each."""
