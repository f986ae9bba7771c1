/**
 * A token bucket per caller: a guest may make `burst` calls at once, then `perSecond` a second. A guest
 * that floods calls gets refusals, and the others are not slowed down. Pure apart from the clock passed in.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly burst = 20, private readonly perSecond = 5) {}

  /** True when `key` may make a call now (and counts it). */
  take(key: string, nowMs = Date.now()): boolean {
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: nowMs };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * this.perSecond);
    bucket.at = nowMs;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
