// The signaling connection: JSON-RPC 2.0 over one WebSocket (docs/signaling.md).

export class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data;
  }
}

export class Signal extends EventTarget {
  constructor(url, token, { keepaliveSeconds = 15, graceSeconds = 30 } = {}) {
    super();
    this.url = `${url}?token=${encodeURIComponent(token)}`;
    this.keepaliveMs = keepaliveSeconds * 1000;
    this.graceMs = graceSeconds * 1000;
    this.nextId = 1;
    this.pending = new Map();
    this.closedByUs = false;
    this.ws = null;
    this.keepalive = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => {
        this.keepalive = setInterval(() => this.notify("KeepAlive", {}), this.keepaliveMs);
        resolve();
      };
      ws.onmessage = (event) => this.onMessage(event.data);
      ws.onerror = () => reject(new Error("signaling connection failed"));
      ws.onclose = (event) => this.onClose(event);
    });
  }

  onMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn("signaling: ignoring a message that is not JSON");
      return;
    }
    if (message.id !== undefined && message.id !== null && this.pending.has(message.id)) {
      const { resolve, reject } = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) reject(new RpcError(message.error));
      else resolve(message.result);
      return;
    }
    if (message.error) {
      this.dispatchEvent(new CustomEvent("rpc-error", { detail: message.error }));
      return;
    }
    if (message.method) {
      this.dispatchEvent(new CustomEvent(message.method, { detail: message.params || {} }));
    }
  }

  onClose(event) {
    clearInterval(this.keepalive);
    for (const { reject } of this.pending.values()) reject(new Error("signaling closed"));
    this.pending.clear();
    this.dispatchEvent(new CustomEvent("close", { detail: { code: event.code, reason: event.reason } }));
  }

  request(method, params = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ jsonrpc: "2.0", id, method, params });
    });
  }

  notify(method, params = {}) {
    this.send({ jsonrpc: "2.0", method, params });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close() {
    this.closedByUs = true;
    clearInterval(this.keepalive);
    if (this.ws) this.ws.close(1000, "leaving");
  }
}
