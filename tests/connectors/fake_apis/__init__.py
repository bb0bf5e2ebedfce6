"""Fake vendor APIs: real HTTP servers on 127.0.0.1 speaking the documented protocols, with faults."""
