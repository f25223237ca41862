"""The host–target protocol: framing, messages, transports, server and client.

The byte layout is specified in docs/protocol.md; the code here is independent
of any transport (TCP, serial, pipe) and imports no framework.
"""
