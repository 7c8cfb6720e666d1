/**
 * One WebSocket to `/ws/chat` for all chats of the page. It opens on first use and again after a loss;
 * frames are routed to their chat by id, and a chat whose socket drops is told so (never left hanging).
 */
import type { ServerFrame } from './conversation';

export type FrameHandler = (frame: ServerFrame) => void;

export class ChatSocket {
  private socket: WebSocket | null = null;
  private opening: Promise<WebSocket> | null = null;
  private readonly handlers = new Map<string, FrameHandler>();

  constructor(private readonly url: () => string) {}

  /** Start a chat: `body` is Ollama's `/api/chat` body without `stream`. */
  async chat(id: string, body: Record<string, unknown>, handler: FrameHandler): Promise<void> {
    const socket = await this.connect();
    this.handlers.set(id, handler);
    socket.send(JSON.stringify({ ...body, type: 'chat', id }));
  }

  /** Ask the server to stop a chat; its `done` frame (done_reason "cancelled") follows. */
  cancel(id: string): boolean {
    if (!this.handlers.has(id) || !this.socket || this.socket.readyState !== WebSocket.OPEN) {
      return false;
    }
    this.socket.send(JSON.stringify({ type: 'cancel', id }));
    return true;
  }

  get running(): number {
    return this.handlers.size;
  }

  private connect(): Promise<WebSocket> {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      return Promise.resolve(this.socket);
    }
    if (this.opening) {
      return this.opening;
    }
    this.opening = new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(this.url());
      let opened = false;
      socket.onopen = () => {
        opened = true;
        this.socket = socket;
        this.opening = null;
        resolve(socket);
      };
      socket.onmessage = event => this.dispatch(event.data);
      socket.onclose = event => {
        this.opening = null;
        if (this.socket === socket) {
          this.socket = null;
        }
        if (!opened) {
          reject(
            new Error(
              'cannot open the chat connection to the Jupyter server: is mullama-jupyter enabled there, and are you still logged in?'
            )
          );
          return;
        }
        const why = event.reason ? `: ${event.reason}` : '';
        this.failAll(`the connection to the server was lost (${event.code}${why}); send again to retry`);
      };
    });
    return this.opening;
  }

  private dispatch(data: unknown): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data)) as ServerFrame;
    } catch {
      return;
    }
    if (frame.id === null || frame.id === undefined) {
      console.warn('mullama: the server refused a frame:', frame.message);
      return;
    }
    const id = String(frame.id);
    const handler = this.handlers.get(id);
    if (!handler) {
      return;
    }
    if (frame.type === 'done' || frame.type === 'error') {
      this.handlers.delete(id);
    }
    handler(frame);
  }

  private failAll(message: string): void {
    const handlers = [...this.handlers.entries()];
    this.handlers.clear();
    for (const [id, handler] of handlers) {
      handler({ type: 'error', id, message, status: 0 });
    }
  }
}
