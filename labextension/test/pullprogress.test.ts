import { describe, expect, it } from 'vitest';

import { applyPullEvent, cancelPull, describePull, formatBytes, startPull } from '../src/pullprogress';

describe('pull progress', () => {
  it('adds up the files of a pull and computes percent and rate', () => {
    let s = startPull('hf:org/repo', 0);
    expect(s.percent).toBeNull();
    s = applyPullEvent(s, { status: 'pulling manifest' }, 100);
    expect(s.status).toBe('pulling manifest');
    expect(describePull(s)).toBe('pulling manifest');
    s = applyPullEvent(s, { status: 'pulling aaa', digest: 'sha256:a', total: 1000, completed: 250 }, 1000);
    s = applyPullEvent(s, { status: 'pulling bbb', digest: 'sha256:b', total: 3000, completed: 750 }, 2000);
    expect(s.total).toBe(4000);
    expect(s.completed).toBe(1000);
    expect(s.percent).toBe(25);
    expect(s.rate).toBe(500);
    expect(s.phase).toBe('running');
    // A later event for the same file replaces its count; a file never counts past its size.
    s = applyPullEvent(s, { status: 'pulling aaa', digest: 'sha256:a', total: 1000, completed: 5000 }, 2000);
    expect(s.completed).toBe(1750);
  });

  it('ends done at 100% on success, failed with the reason on error', () => {
    const running = applyPullEvent(startPull('x', 0), { digest: 'd', total: 10, completed: 4 }, 1000);
    const done = applyPullEvent(running, { status: 'success' }, 2000);
    expect(done.phase).toBe('done');
    expect(done.percent).toBe(100);
    expect(describePull(done)).toBe('pulled · 10 B');
    const failed = applyPullEvent(running, { error: 'pull model manifest: file does not exist' }, 2000);
    expect(failed.phase).toBe('failed');
    expect(describePull(failed)).toBe('pull model manifest: file does not exist');
  });

  it('cancels only a running pull', () => {
    const running = startPull('x', 0);
    expect(cancelPull(running).phase).toBe('cancelled');
    expect(describePull(cancelPull(running))).toBe('cancelled');
    const done = applyPullEvent(running, { status: 'success' }, 1);
    expect(cancelPull(done)).toBe(done);
  });

  it('describes bytes, speed and time left', () => {
    let s = startPull('smollm2:135m', 0);
    s = applyPullEvent(s, { digest: 'd', total: 98_400_000, completed: 41_200_000 }, 2000);
    expect(describePull(s)).toBe('41.2 MB of 98.4 MB · 20.6 MB/s · 3 s left');
  });

  it('formats sizes in decimal units, as Ollama does', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1000)).toBe('1.00 KB');
    expect(formatBytes(98_362_432)).toBe('98.4 MB');
    expect(formatBytes(24_004_096)).toBe('24.0 MB');
    expect(formatBytes(4.7e9)).toBe('4.70 GB');
    expect(formatBytes(123e12)).toBe('123 TB');
  });
});
