"""The errors the SFU raises; signaling turns them into JSON-RPC errors.

    SfuError
    ├── InvalidSdp        the SDP (or ICE candidate) does not parse or cannot be applied
    ├── UnknownPeer       no such participant in that meeting on this node
    └── NegotiationState  an answer arrived when no offer was outstanding
"""


class SfuError(Exception):
    pass


class InvalidSdp(SfuError):
    pass


class UnknownPeer(SfuError):
    pass


class NegotiationState(SfuError):
    pass
