/**
 * The server extension's routes, reached through Jupyter's own connection settings: the base URL
 * (JupyterHub's `/user/<name>/` included), the token and the XSRF cookie all come from `ServerConnection`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { readNdjson } from './ndjson';
import type { PullEvent } from './pullprogress';

/** An HTTP failure, with the server's own message (status 0: the server could not be reached). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ModelDetails {
  format?: string;
  family?: string;
  families?: string[] | null;
  parameter_size?: string;
  quantization_level?: string;
}

export interface ModelEntry {
  name: string;
  size: number;
  digest: string;
  modified_at: string;
  details: ModelDetails;
  capabilities?: string[];
  loaded: boolean;
  expires_at?: string;
}

export interface ModelList {
  models: ModelEntry[];
}

export interface ShowResponse {
  modelfile?: string;
  parameters?: string;
  template?: string;
  system?: string;
  details?: ModelDetails;
  capabilities?: string[];
}

const PREFIX = 'mullama';

export class MullamaApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  url(path: string): string {
    return URLExt.join(this.settings.baseUrl, PREFIX, path);
  }

  /** `ws(s)://…/mullama/ws/chat`; browsers cannot set headers on a WebSocket, so the token rides in the URL. */
  socketUrl(): string {
    const url = URLExt.join(this.settings.wsUrl, PREFIX, 'ws/chat');
    const token = this.settings.token;
    return token ? `${url}?token=${encodeURIComponent(token)}` : url;
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(path), init, this.settings);
    } catch (e) {
      if ((e as Error).name === 'AbortError') {
        throw e;
      }
      throw new ApiError(`cannot reach the Jupyter server (${(e as Error).message}); is it still running?`, 0);
    }
    if (!response.ok) {
      throw await errorFrom(response);
    }
    return response;
  }

  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.request(path, init);
    return (await response.json()) as T;
  }

  models(): Promise<ModelList> {
    return this.json<ModelList>('api/models');
  }

  show(name: string): Promise<ShowResponse> {
    return this.json<ShowResponse>('api/show', { method: 'POST', body: JSON.stringify({ model: name }) });
  }

  async remove(name: string): Promise<void> {
    await this.request(`api/models/${encodeURIComponent(name)}`, { method: 'DELETE' });
  }

  /** Ollama's way: a generate request with no prompt and keep_alive 0 unloads the model. */
  async unload(name: string): Promise<void> {
    await this.request('api/generate', { method: 'POST', body: JSON.stringify({ model: name, keep_alive: 0 }) });
  }

  /** Stream a pull; each progress object goes to `onEvent`. Resolves when the server is done. */
  async pull(spec: string, onEvent: (event: PullEvent) => void, signal?: AbortSignal): Promise<void> {
    const response = await this.request('api/models/pull', {
      method: 'POST',
      body: JSON.stringify({ model: spec, stream: true }),
      signal
    });
    if (!response.body) {
      throw new ApiError('the server sent no progress', response.status);
    }
    for await (const event of readNdjson(response.body)) {
      onEvent(event as PullEvent);
      if ((event as PullEvent).error) {
        return;
      }
    }
  }
}

async function errorFrom(response: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // the body is gone; the status still says something
  }
  let message = '';
  try {
    const body = JSON.parse(text);
    const error = body?.error;
    message = typeof error === 'string' ? error : (error?.message ?? body?.message ?? '');
  } catch {
    // not JSON: Jupyter's own HTML error page
  }
  if (!message) {
    message =
      response.status === 404
        ? 'the mullama server extension does not answer here (404): is mullama-jupyter installed and enabled on this Jupyter server?'
        : response.status === 403
          ? 'Jupyter refused the request (403): reload the page to log in again'
          : `the server answered ${response.status} ${response.statusText}`;
  }
  return new ApiError(message, response.status);
}
