/**
 * Ollama-shaped pull progress (`{status, digest?, total?, completed?}` or `{error}`) folded into what a
 * progress bar shows. Pure, so it is tested without a browser.
 */
export interface PullEvent {
  status?: string;
  digest?: string;
  total?: number;
  completed?: number;
  error?: string;
}

export interface PullState {
  /** The model spec being pulled. */
  spec: string;
  /** The server's last status line ("pulling manifest", "pulling sha256:…", "success"). */
  status: string;
  /** Bytes per file (by digest), so a pull of several files adds up. */
  files: Record<string, { total: number; completed: number }>;
  completed: number;
  total: number;
  /** 0..100, or null while the size is not known yet. */
  percent: number | null;
  phase: 'running' | 'done' | 'failed' | 'cancelled';
  error?: string;
  startedAt: number;
  /** Bytes per second, over the whole pull so far. */
  rate: number;
}

export function startPull(spec: string, now: number): PullState {
  return {
    spec,
    status: 'starting',
    files: {},
    completed: 0,
    total: 0,
    percent: null,
    phase: 'running',
    startedAt: now,
    rate: 0
  };
}

export function applyPullEvent(state: PullState, event: PullEvent, now: number): PullState {
  if (event.error) {
    return { ...state, phase: 'failed', error: event.error, status: 'failed' };
  }
  const next: PullState = { ...state, status: event.status ?? state.status };
  if (event.digest && typeof event.total === 'number') {
    next.files = {
      ...state.files,
      [event.digest]: { total: event.total, completed: event.completed ?? 0 }
    };
    const files = Object.values(next.files);
    next.total = files.reduce((sum, f) => sum + f.total, 0);
    next.completed = files.reduce((sum, f) => sum + Math.min(f.completed, f.total), 0);
    next.percent = next.total > 0 ? (100 * next.completed) / next.total : null;
    const seconds = (now - state.startedAt) / 1000;
    next.rate = seconds > 0 ? next.completed / seconds : 0;
  }
  if (event.status === 'success') {
    next.phase = 'done';
    next.percent = 100;
  }
  return next;
}

export function cancelPull(state: PullState): PullState {
  return state.phase === 'running' ? { ...state, phase: 'cancelled', status: 'cancelled' } : state;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

function decimals(value: number, unit: number): number {
  return unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
}

/** Decimal units, as Ollama prints sizes. */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  // Compare the value as it will be printed: 999.7 KB rounds to "1000 KB", which is "1.00 MB".
  while (unit < UNITS.length - 1 && Number(value.toFixed(decimals(value, unit))) >= 1000) {
    value /= 1000;
    unit += 1;
  }
  // The same for the number of decimals: 9.999 MB is "10.0 MB", not "10.00 MB".
  const digits = decimals(Number(value.toFixed(decimals(value, unit))), unit);
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** "41.2 MB of 98.2 MB · 120 MB/s · 1 s left" */
export function describePull(state: PullState): string {
  if (state.phase === 'failed') {
    return state.error ?? 'failed';
  }
  if (state.phase === 'done') {
    return state.total > 0 ? `pulled · ${formatBytes(state.total)}` : 'pulled';
  }
  if (state.phase === 'cancelled') {
    return 'cancelled';
  }
  if (state.total === 0) {
    return state.status;
  }
  const parts = [`${formatBytes(state.completed)} of ${formatBytes(state.total)}`];
  if (state.rate > 0) {
    parts.push(`${formatBytes(state.rate)}/s`);
    const left = (state.total - state.completed) / state.rate;
    if (left >= 1 && Number.isFinite(left)) {
      parts.push(`${Math.ceil(left)} s left`);
    }
  }
  return parts.join(' · ');
}
