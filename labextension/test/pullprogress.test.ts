import { describe, expect, it } from 'vitest';

import { applyPullEvent, cancelPull, describePull, formatBytes, PullState, startPull } from '../src/pullprogress';

describe('pull progress', () => {
  it('starts running with no size known', () => {
    const s = startPull('smollm2:135m', 1234);
    expect(s).toEqual({
      spec: 'smollm2:135m',
      status: 'starting',
      files: {},
      completed: 0,
      total: 0,
      percent: null,
      phase: 'running',
      startedAt: 1234,
      rate: 0
    });
    expect(describePull(s)).toBe('starting');
  });

  it('adds up the files of a pull and computes percent and rate', () => {
    let s = startPull('hf:org/repo', 0);
    expect(s.percent).toBeNull();
    s = applyPullEvent(s, { status: 'pulling manifest' }, 100);
    expect(s.status).toBe('pulling manifest');
    expect(s.percent).toBeNull();
    expect(describePull(s)).toBe('pulling manifest');
    s = applyPullEvent(s, { status: 'pulling aaa', digest: 'sha256:a', total: 1000, completed: 250 }, 1000);
    expect(s.percent).toBe(25);
    expect(s.rate).toBe(250);
    s = applyPullEvent(s, { status: 'pulling bbb', digest: 'sha256:b', total: 3000, completed: 750 }, 2000);
    expect(s.files).toEqual({ 'sha256:a': { total: 1000, completed: 250 }, 'sha256:b': { total: 3000, completed: 750 } });
    expect(s.total).toBe(4000);
    expect(s.completed).toBe(1000);
    expect(s.percent).toBe(25);
    expect(s.rate).toBe(500);
    expect(s.phase).toBe('running');
    // A later event for the same file replaces its count; a file never counts past its size.
    s = applyPullEvent(s, { status: 'pulling aaa', digest: 'sha256:a', total: 1000, completed: 5000 }, 2000);
    expect(s.completed).toBe(1750);
    expect(s.total).toBe(4000);
    expect(s.percent).toBe(43.75);
    s = applyPullEvent(s, { status: 'pulling bbb', digest: 'sha256:b', total: 3000, completed: 3000 }, 4000);
    expect(s.completed).toBe(4000);
    expect(s.percent).toBe(100);
    expect(s.rate).toBe(1000);
    expect(s.phase).toBe('running'); // only "success" ends it
  });

  it('measures the rate from the start of the pull, with the times it is given', () => {
    let s = startPull('x', 10_000);
    s = applyPullEvent(s, { digest: 'd', total: 10_000, completed: 0 }, 10_000);
    expect(s.rate).toBe(0); // no time has passed: no rate, not Infinity
    s = applyPullEvent(s, { digest: 'd', total: 10_000, completed: 3000 }, 11_500);
    expect(s.rate).toBe(2000);
    s = applyPullEvent(s, { digest: 'd', total: 10_000, completed: 6000 }, 13_000);
    expect(s.rate).toBe(2000);
  });

  it('counts a file without a completed figure as nothing done yet', () => {
    const s = applyPullEvent(startPull('x', 0), { status: 'pulling d', digest: 'd', total: 500 }, 1000);
    expect(s.files.d).toEqual({ total: 500, completed: 0 });
    expect(s.completed).toBe(0);
    expect(s.percent).toBe(0);
  });

  it('keeps the byte counts on events that carry none', () => {
    let s = applyPullEvent(startPull('x', 0), { digest: 'd', total: 1000, completed: 400 }, 1000);
    const before = s;
    s = applyPullEvent(s, { status: 'verifying sha256 digest' }, 5000);
    expect(s.status).toBe('verifying sha256 digest');
    expect([s.completed, s.total, s.percent, s.rate]).toEqual([before.completed, before.total, before.percent, before.rate]);
    s = applyPullEvent(s, { digest: 'e' }, 6000); // a digest but no size
    expect(s.files).toEqual(before.files);
    s = applyPullEvent(s, {}, 7000);
    expect(s.status).toBe('verifying sha256 digest');
  });

  it('leaves the percent unknown while every file has size 0', () => {
    const s = applyPullEvent(startPull('x', 0), { digest: 'd', total: 0, completed: 0 }, 1000);
    expect(s.percent).toBeNull();
    expect(describePull(s)).toBe('starting');
  });

  it('never changes the state it is given', () => {
    const s = startPull('x', 0);
    const copy = JSON.parse(JSON.stringify(s));
    const next = applyPullEvent(s, { digest: 'd', total: 10, completed: 5 }, 1000);
    expect(next).not.toBe(s);
    expect(s).toEqual(copy);
    const files = JSON.parse(JSON.stringify(next.files));
    applyPullEvent(next, { digest: 'd', total: 10, completed: 9 }, 2000);
    expect(next.files).toEqual(files);
  });

  it('ends done at 100% on success, failed with the reason on error', () => {
    const running = applyPullEvent(startPull('x', 0), { digest: 'd', total: 10, completed: 4 }, 1000);
    const done = applyPullEvent(running, { status: 'success' }, 2000);
    expect(done.phase).toBe('done');
    expect(done.percent).toBe(100);
    expect(done.status).toBe('success');
    expect(describePull(done)).toBe('pulled · 10 B');
    const failed = applyPullEvent(running, { error: 'pull model manifest: file does not exist' }, 2000);
    expect(failed.phase).toBe('failed');
    expect(failed.error).toBe('pull model manifest: file does not exist');
    expect(failed.status).toBe('failed');
    expect(failed.completed).toBe(4); // what was done stays visible
    expect(describePull(failed)).toBe('pull model manifest: file does not exist');
  });

  it('is done at 100% on success even when no size was ever known', () => {
    const done = applyPullEvent(startPull('x', 0), { status: 'success' }, 10);
    expect(done.phase).toBe('done');
    expect(done.percent).toBe(100);
    expect(describePull(done)).toBe('pulled');
  });

  it('says "failed" for a failure without a message', () => {
    const s: PullState = { ...startPull('x', 0), phase: 'failed' };
    expect(describePull(s)).toBe('failed');
  });

  it('cancels only a running pull', () => {
    const running = startPull('x', 0);
    const cancelled = cancelPull(running);
    expect(cancelled.phase).toBe('cancelled');
    expect(cancelled.status).toBe('cancelled');
    expect(running.phase).toBe('running');
    expect(describePull(cancelled)).toBe('cancelled');
    expect(cancelPull(cancelled)).toBe(cancelled);
    const done = applyPullEvent(running, { status: 'success' }, 1);
    expect(cancelPull(done)).toBe(done);
    const failed = applyPullEvent(running, { error: 'boom' }, 1);
    expect(cancelPull(failed)).toBe(failed);
  });

  it('describes bytes, speed and time left', () => {
    let s = startPull('smollm2:135m', 0);
    s = applyPullEvent(s, { digest: 'd', total: 98_400_000, completed: 41_200_000 }, 2000);
    expect(describePull(s)).toBe('41.2 MB of 98.4 MB · 20.6 MB/s · 3 s left');
    // Two files, the way Ollama pulls a model and its template.
    let t = startPull('qwen', 0);
    t = applyPullEvent(t, { digest: 'model', total: 98_000_000, completed: 41_000_000 }, 4000);
    t = applyPullEvent(t, { digest: 'template', total: 200_000, completed: 200_000 }, 4000);
    expect(describePull(t)).toBe('41.2 MB of 98.2 MB · 10.3 MB/s · 6 s left');
  });

  it('leaves out the time left under a second, and the speed before any time has passed', () => {
    let s = startPull('x', 0);
    s = applyPullEvent(s, { digest: 'd', total: 2_000_000, completed: 1_500_000 }, 1000);
    expect(describePull(s)).toBe('1.50 MB of 2.00 MB · 1.50 MB/s');
    const instant = applyPullEvent(startPull('x', 0), { digest: 'd', total: 2_000_000, completed: 1_000 }, 0);
    expect(describePull(instant)).toBe('1.00 KB of 2.00 MB');
  });

  it('tells the size once pulled', () => {
    let s = startPull('smollm2:135m', 0);
    s = applyPullEvent(s, { digest: 'a', total: 98_200_000, completed: 98_200_000 }, 1000);
    s = applyPullEvent(s, { digest: 'b', total: 200_000, completed: 200_000 }, 1000);
    s = applyPullEvent(s, { status: 'success' }, 2000);
    expect(describePull(s)).toBe('pulled · 98.4 MB');
  });
});

describe('formatBytes', () => {
  it('formats sizes in decimal units, as Ollama does', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1000)).toBe('1.00 KB');
    expect(formatBytes(1024)).toBe('1.02 KB');
    expect(formatBytes(15_300)).toBe('15.3 KB');
    expect(formatBytes(98_362_432)).toBe('98.4 MB');
    expect(formatBytes(24_004_096)).toBe('24.0 MB');
    expect(formatBytes(4.7e9)).toBe('4.70 GB');
    expect(formatBytes(123e12)).toBe('123 TB');
    expect(formatBytes(5e15)).toBe('5000 TB'); // no unit past TB
  });

  it('moves to the next unit when rounding reaches 1000', () => {
    expect(formatBytes(999.7)).toBe('1.00 KB'); // a rate is not a whole number of bytes
    expect(formatBytes(999_499)).toBe('999 KB');
    expect(formatBytes(999_600)).toBe('1.00 MB');
    expect(formatBytes(999_999_999)).toBe('1.00 GB');
  });

  it('uses the decimals of the number it prints', () => {
    expect(formatBytes(9_999)).toBe('10.0 KB');
    expect(formatBytes(99_960)).toBe('100 KB');
    expect(formatBytes(9_940)).toBe('9.94 KB');
  });
});
