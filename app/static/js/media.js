// The one peer connection to the SFU. The SFU offers; we answer (docs/signaling.md).
// Each offer says which transceivers carry our own audio and video ("publish") and
// whose media every other transceiver carries ("tracks": mid -> participant id).

export class Media extends EventTarget {
  constructor({ iceServers, localStream, sendCandidate }) {
    super();
    this.localStream = localStream;
    this.sendCandidate = sendCandidate;
    this.tracks = {};
    this.pc = new RTCPeerConnection({ iceServers });
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.sendCandidate(candidate.toJSON());
    };
    this.pc.ontrack = (event) => this.onTrack(event);
    this.pc.onconnectionstatechange = () =>
      this.dispatchEvent(new CustomEvent("state", { detail: this.pc.connectionState }));
  }

  async answer({ sdp, publish = {}, tracks = {} }) {
    this.tracks = { ...this.tracks, ...tracks };
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (transceiver.mid !== null && publish[kind] === transceiver.mid) {
        const [track] = kind === "audio" ? this.localStream.getAudioTracks()
                                         : this.localStream.getVideoTracks();
        if (track && transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
        transceiver.direction = track ? "sendonly" : "inactive";
      }
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return this.pc.localDescription.sdp;
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      console.warn("media: ignoring an ICE candidate", error);
    }
  }

  onTrack(event) {
    const mid = event.transceiver.mid;
    const participantId = this.tracks[mid];
    this.dispatchEvent(new CustomEvent("track", {
      detail: { participantId, mid, track: event.track },
    }));
  }

  participantOf(mid) {
    return this.tracks[mid];
  }

  setEnabled(kind, enabled) {
    for (const track of this.localStream.getTracks()) {
      if (track.kind === kind) track.enabled = enabled;
    }
  }

  // Bytes received per participant, from the browser's own RTP statistics.
  async inboundBytes() {
    const totals = {};
    const stats = await this.pc.getStats();
    stats.forEach((report) => {
      if (report.type !== "inbound-rtp") return;
      const participantId = this.tracks[report.mid] || "unknown";
      const key = `${participantId}:${report.kind}`;
      totals[key] = (totals[key] || 0) + (report.bytesReceived || 0);
    });
    return totals;
  }

  close() {
    this.pc.close();
  }
}
