/** A few DOM helpers: the renderer is plain TypeScript, no framework. Text goes in as text, never as HTML. */

type Child = Node | string | null | undefined | false;
type Props = Record<string, string | number | boolean | EventListener | undefined>;

/** `h('button', { class: 'primary', onclick: go }, 'Create')`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (value === true) element.setAttribute(key, '');
    else element.setAttribute(key, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function clear(element: Element): void {
  while (element.firstChild) element.removeChild(element.firstChild);
}

/** A domain color as a CSS custom property (CSSOM, which the CSP allows; no inline style attributes). */
export function accent<T extends HTMLElement>(element: T, color: string | undefined): T {
  if (color && /^#[0-9a-fA-F]{6}$/.test(color)) element.style.setProperty('--accent', color);
  return element;
}

/** A labelled form row: label, control, and a hint line under it. */
export function field(label: string, control: HTMLElement, ...hints: Array<HTMLElement | null | undefined>): HTMLElement {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 8)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, ...hints);
}

/** Waits `ms` after the last call before running `fn` (for checking as you type). */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): (...args: A) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (...args) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A status line: `info`, `ok` or `error`. */
export function setStatus(element: HTMLElement, kind: 'info' | 'ok' | 'error' | 'none', text = ''): void {
  element.className = `status ${kind}`;
  element.textContent = text;
  element.hidden = kind === 'none';
}

/** A progress bar; `percent` undefined shows an indeterminate bar. */
export function progressBar(): { element: HTMLElement; set(percent: number | undefined): void } {
  const fill = h('div', { class: 'fill' });
  const element = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 }, fill);
  return {
    element,
    set(percent) {
      element.classList.toggle('indeterminate', percent === undefined);
      if (percent !== undefined) {
        fill.style.width = `${percent}%`;
        element.setAttribute('aria-valuenow', String(Math.round(percent)));
      }
    },
  };
}
