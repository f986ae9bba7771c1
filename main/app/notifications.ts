import { Notification } from 'electron';
import type { Operation } from '../ipc/channels.js';
import { operationNotice } from '../tray/notice.js';

/** A desktop notification when a long operation finishes or any operation fails. */
export function notifyOperation(op: Operation, icon?: string): void {
  const notice = operationNotice(op);
  showNotification(notice.title, notice.body, notice.urgency, icon);
}

export function showNotification(title: string, body: string, urgency: 'normal' | 'critical' = 'normal', icon?: string): void {
  if (!Notification.isSupported()) {
    process.stderr.write(`vms: ${title}${body ? `: ${body}` : ''}\n`);
    return;
  }
  new Notification({ title, body, urgency, icon, silent: urgency !== 'critical' }).show();
}
