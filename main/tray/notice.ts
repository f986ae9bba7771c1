import type { Operation } from '../ipc/channels.js';

/** The desktop notification for a finished or failed operation. Pure. */
export function operationNotice(op: Operation): { title: string; body: string; urgency: 'normal' | 'critical' } {
  const seconds = op.endedAt ? Math.round((op.endedAt - op.startedAt) / 1000) : 0;
  const took = seconds >= 60 ? ` (${Math.floor(seconds / 60)} min ${seconds % 60} s)` : seconds > 0 ? ` (${seconds} s)` : '';
  if (op.state === 'failed') return { title: `${op.title} failed`, body: op.message ?? 'It failed.', urgency: 'critical' };
  return { title: `${op.title}: done${took}`, body: op.message ?? '', urgency: 'normal' };
}
