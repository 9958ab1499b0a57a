"""The signaling protocol: JSON-RPC 2.0 envelopes carrying the meeting events."""
