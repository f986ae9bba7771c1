import { randomBytes } from 'node:crypto';
import type { Engine } from '../index.js';
import { openConsoleStream, type ConsoleStream } from '../libvirt/console-stream.js';
import { consoleAliases } from '../libvirt/consoles.js';
import type { LifecycleWatch } from '../libvirt/events.js';
import { RPC_CALL_CONSOLE, RPC_SERVE_CONSOLE } from './channels.js';
import { decide, explainDecision, type PolicyRequest, type VmFacts } from './policy.js';
import { PolicyStore } from './policy-files.js';
import { guestLineSplitter, hostLine, parseGuestLine, type GuestLine } from './protocol.js';
import { RateLimiter } from './rate-limit.js';
import { appendRpcLog, type RpcLogEntry } from './rpc-log.js';
import { DEFAULT_COPY_LIMIT_BYTES, parseCopyArgument, printable, requestedTargetProblem, serviceNameProblem } from './rpc-names.js';

/**
 * `vms rpcd`: carries calls between VMs (docs/rpc.md). It holds both rpc consoles of every running VM
 * through libvirt's console stream, follows libvirt's lifecycle events to attach to VMs as they start,
 * knows a caller by the console its call came on (never by anything the guest says), decides by the
 * policy, starts the target if needed, and relays the data between the two consoles.
 */

export interface AskQuestion {
  service: string;
  source: string;
  target: string;
  /** The policy line that said `ask`, as FILE:LINE. */
  rule: string;
}

export interface RpcServiceOptions {
  env?: NodeJS.ProcessEnv;
  /** The tray's confirmation dialog for `ask` lines; without one, `ask` is denied with a notice. */
  ask?: (question: AskQuestion) => Promise<boolean>;
  /** Notices for the user (bad policy lines, asks nobody could answer, lost consoles). */
  onNotice?: (message: string) => void;
  /** A call with no line from either side for this long is ended. */
  idleTimeoutMs?: number;
  /** How long a target that had to be started may take until its agent answers. */
  startTimeoutMs?: number;
  copyLimitBytes?: number;
}

export interface RpcService {
  /** Resolves once the lifecycle watch runs and the running VMs' consoles are being opened. */
  ready: Promise<void>;
  stop(): void;
}

/** One of a VM's two rpc consoles, opened again if it ends while the VM runs (another `--force` took it). */
class ConsoleLines {
  private stream: ConsoleStream | undefined;
  private closed = false;

  constructor(private readonly engine: Engine, private readonly vm: string, private readonly alias: string, private readonly onLine: (line: string) => void) {
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const stream = openConsoleStream(this.engine.ctx.libvirt, this.vm, { device: this.alias });
    this.stream = stream;
    stream.onData(guestLineSplitter(this.onLine));
    void stream.ended.then(() => {
      if (this.stream === stream && !this.closed) setTimeout(() => this.open(), 2000).unref();
    });
  }

  send(text: string): void {
    this.stream?.write(text);
  }

  close(): void {
    this.closed = true;
    this.stream?.close();
  }
}

interface Call {
  id: string;
  source: VmLink;
  target?: VmLink;
  service: string;
  /** For vms.FileCopy: the declared size, which the data may not exceed. */
  declaredSize?: number;
  callerLines: number;
  targetLines: number;
  bytesIn: number;
  bytesOut: number;
  inputEnded: boolean;
  /** Set once the caller has its answer; the target is then only drained. */
  finished: boolean;
  done: (outcome: { exitCode?: number; error?: string }) => void;
  /** The target said X or F: it reads the next call now. */
  targetFinished: () => void;
  touch: () => void;
}

class VmLink {
  call: ConsoleLines;
  serve: ConsoleLines;
  serveReady = false;
  private readyWaiters: Array<() => void> = [];
  /** The call this VM is making now (one at a time: the guest's client holds a lock). */
  outgoing?: Call;
  /** Set from a CALL line until its answer, while the policy decides and the target starts. */
  calling = false;
  /** The call this VM's agent is serving now. */
  incoming?: Call;
  /** Calls into this VM run one after the other. */
  private serveQueue: Promise<void> = Promise.resolve();

  constructor(engine: Engine, readonly name: string, onCallLine: (link: VmLink, line: string) => void, onServeLine: (link: VmLink, line: string) => void) {
    this.call = new ConsoleLines(engine, name, RPC_CALL_CONSOLE, (line) => onCallLine(this, line));
    this.serve = new ConsoleLines(engine, name, RPC_SERVE_CONSOLE, (line) => onServeLine(this, line));
  }

  markReady(): void {
    this.serveReady = true;
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.serveReady) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push(() => { clearTimeout(timer); resolve(true); });
    });
  }

  /** Runs `work` when the calls into this VM before it are done. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.serveQueue.then(work);
    this.serveQueue = result.then(() => undefined, () => undefined);
    return result;
  }

  close(): void {
    this.call.close();
    this.serve.close();
  }
}

class CallRefused extends Error {}

export function startRpcService(engine: Engine, options: RpcServiceOptions = {}): RpcService {
  const env = options.env ?? process.env;
  const notice = options.onNotice ?? ((message: string) => process.stderr.write(`vms rpcd: ${message}\n`));
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const startTimeoutMs = options.startTimeoutMs ?? 180_000;
  const copyLimit = options.copyLimitBytes ?? DEFAULT_COPY_LIMIT_BYTES;
  const policy = new PolicyStore(env, (error) => notice(`${error.message} The policy from before stays in force.`));
  const limiter = new RateLimiter();
  const links = new Map<string, VmLink>();
  const withoutRpc = new Set<string>();
  let inventory: Map<string, VmFacts & { state: string }> | undefined;
  let stopped = false;

  const facts = async (): Promise<Map<string, VmFacts & { state: string }>> => {
    // Only this installation's VMs (their disks are in its pool): another user's vms on the same libvirtd
    // has its own rpcd, and the two must not take each other's consoles.
    if (inventory) return inventory;
    const ours = (await engine.list()).filter((vm) => vm.disks.some((disk) => disk.pool === engine.ctx.layout.pool));
    inventory = new Map(ours.map((vm) => [vm.name, { name: vm.name, label: vm.meta.label, kind: vm.meta.kind, template: vm.meta.template, state: vm.state }]));
    return inventory;
  };

  const attach = async (name: string): Promise<void> => {
    if (stopped || links.has(name) || withoutRpc.has(name)) return;
    if (!(await facts()).has(name)) return;
    const aliases: string[] = await consoleAliases(engine.ctx.libvirt, name).catch(() => []);
    if (!aliases.includes(RPC_CALL_CONSOLE) || !aliases.includes(RPC_SERVE_CONSOLE)) {
      withoutRpc.add(name);
      return;
    }
    if (links.has(name) || stopped) return;
    links.set(name, new VmLink(engine, name, onCallLine, onServeLine));
  };

  const detach = (name: string) => {
    withoutRpc.delete(name);
    const link = links.get(name);
    if (!link) return;
    links.delete(name);
    link.outgoing?.done({ error: `${name} stopped` });
    link.incoming?.done({ error: `${name} stopped during the call` });
    link.incoming?.targetFinished();
    link.close();
  };

  const syncRunning = async () => {
    inventory = undefined;
    const vms = await facts().catch(() => new Map());
    for (const [name, vm] of vms) if (vm.state === 'running' || vm.state === 'paused') await attach(name);
    for (const name of [...links.keys()]) if (!['running', 'paused'].includes(vms.get(name)?.state ?? '')) detach(name);
  };

  function onCallLine(link: VmLink, raw: string): void {
    const line = parseGuestLine(raw);
    if (line.kind === 'call') {
      if (link.outgoing || link.calling) {
        link.call.send(hostLine.refused(line.id, `${link.name} is already making a call`));
        return;
      }
      void runCall(link, line);
      return;
    }
    const call = link.outgoing;
    if (!call || call.finished) return;
    call.touch();
    if (line.kind === 'invalid') return call.done({ error: `${link.name} sent ${line.problem}` });
    if (line.kind !== 'ignored') fromCaller(call, line);
  }

  function onServeLine(link: VmLink, raw: string): void {
    const line = parseGuestLine(raw);
    if (line.kind === 'ready') {
      if (!link.incoming) link.markReady();
      return;
    }
    const call = link.incoming;
    if (!call) return;
    call.touch();
    if (line.kind === 'invalid') return call.done({ error: `${link.name} answered with ${line.problem}` });
    if (line.kind !== 'ignored') fromTarget(call, link, line);
  }

  function fromCaller(call: Call, line: GuestLine): void {
    const target = call.target;
    if (!target || call.inputEnded) return;
    if (line.kind === 'data') {
      call.callerLines++;
      call.bytesIn += line.bytes.length;
      if (call.declaredSize !== undefined && call.bytesIn > call.declaredSize) return call.done({ error: 'the file is larger than announced' });
      target.serve.send(hostLine.data(line.text));
    } else if (line.kind === 'window') {
      if (line.lines !== call.callerLines) return call.done({ error: `lost data on ${call.source.name}'s console (the host was too slow): try again` });
      call.callerLines = 0;
      call.source.call.send(hostLine.windowAck());
    } else if (line.kind === 'end') {
      call.inputEnded = true;
      target.serve.send(hostLine.end());
    }
  }

  function fromTarget(call: Call, target: VmLink, line: GuestLine): void {
    if (line.kind === 'data') {
      call.targetLines++;
      call.bytesOut += line.bytes.length;
      if (!call.finished) call.source.call.send(hostLine.data(line.text));
    } else if (line.kind === 'window') {
      if (line.lines !== call.targetLines && !call.finished) call.done({ error: `lost data on ${target.name}'s console (the host was too slow): try again` });
      call.targetLines = 0;
      target.serve.send(hostLine.windowAck());
    } else if (line.kind === 'exit') {
      call.done({ exitCode: line.code });
      call.targetFinished();
    } else if (line.kind === 'fail') {
      call.done({ error: printable(line.reason, 200) });
      call.targetFinished();
    }
  }

  async function runCall(source: VmLink, request: Extract<GuestLine, { kind: 'call' }>): Promise<void> {
    const started = Date.now();
    const entry: RpcLogEntry = { time: new Date().toISOString(), id: request.id, service: printable(request.service, 64), source: source.name, target: printable(request.target, 48), decision: 'refused', bytesIn: 0, bytesOut: 0, ms: 0 };
    const refuse = (reason: string) => { throw new CallRefused(reason); };
    let disposable: string | undefined;
    source.calling = true;
    try {
      if (!limiter.take(source.name)) refuse(`too many calls from ${source.name}: wait a moment`);
      const problem = serviceNameProblem(request.service) ?? requestedTargetProblem(request.target);
      if (problem) refuse(problem);
      const vms = await facts();
      const sourceFacts = vms.get(source.name);
      if (!sourceFacts) refuse(`${source.name} is not a VM vms knows`);
      const policyRequest: PolicyRequest = { service: request.service, source: sourceFacts!, target: request.target, targetVm: vms.get(request.target) };
      const decision = decide(await policy.current(), policyRequest);
      entry.decision = decision.action;
      entry.rule = decision.rule ? `${decision.rule.file}:${decision.rule.line}` : undefined;
      if (decision.action === 'ask') {
        const question = { service: request.service, source: source.name, target: decision.target, rule: entry.rule! };
        if (!options.ask) {
          notice(`${explainDecision(decision, policyRequest)}; no tray app is running to ask, so it is denied.`);
          refuse('the policy asks the user, and no tray app is running to ask: denied');
        }
        if (!(await options.ask!(question))) refuse('the user said no');
      } else if (decision.action === 'deny') {
        refuse(`refused by the host's policy (${entry.rule ?? 'no line allows it'})`);
      }
      let declaredSize: number | undefined;
      if (request.service === 'vms.FileCopy') {
        const copy = parseCopyArgument(request.arg, copyLimit);
        if (typeof copy === 'string') refuse(copy);
        else declaredSize = copy.size;
      }

      let targetName = decision.target;
      if (targetName === '@dispvm' || targetName.startsWith('@dispvm:')) {
        const template = targetName.startsWith('@dispvm:') ? targetName.slice(8) : (sourceFacts!.template ?? undefined);
        disposable = (await engine.disposable({ template })).name;
        inventory = undefined;
        targetName = disposable;
      }
      entry.ranIn = targetName;
      const targetFacts = (await facts()).get(targetName);
      if (!targetFacts) refuse(`there is no VM named ${printable(targetName, 40)}`);
      if (targetFacts!.state !== 'running' && !disposable) {
        if (!decision.start) refuse(`${targetName} is off, and the policy does not start it (start=no)`);
        await engine.start(targetName);
        inventory = undefined;
      }
      await attach(targetName);
      const target = links.get(targetName);
      if (!target) refuse(`${targetName} has no rpc consoles: recreate it with this version of vms`);
      if (!(await target!.waitReady(startTimeoutMs))) refuse(`${targetName}'s vms-rpc-agent does not answer`);

      const outcome = await target!.exclusive(() => relay(source, target!, request, declaredSize, entry));
      entry.exitCode = outcome.exitCode;
      entry.error = outcome.error;
    } catch (error) {
      const reason = error instanceof CallRefused ? error.message : `the host failed: ${(error as Error).message}`;
      entry.error = reason;
      source.call.send(hostLine.refused(request.id, reason));
    } finally {
      source.calling = false;
      if (source.outgoing?.id === request.id) source.outgoing = undefined;
      entry.ms = Date.now() - started;
      await appendRpcLog(engine.config.stateDir, entry).catch((error) => notice(`cannot write the rpc log: ${(error as Error).message}`));
      if (disposable) await engine.kill(disposable).catch(() => undefined);
    }
  }

  /**
   * Carries one call between the caller's and the target's consoles. Resolves when the target is done
   * too: a target whose caller went away mid-call gets the end of its input and is drained (its windows
   * acknowledged) until its exit status, so its late lines never mix with the next call's.
   */
  function relay(source: VmLink, target: VmLink, request: Extract<GuestLine, { kind: 'call' }>, declaredSize: number | undefined, entry: RpcLogEntry): Promise<{ exitCode?: number; error?: string }> {
    return new Promise((resolve) => {
      let idle: NodeJS.Timeout;
      let outcomeForCaller: { exitCode?: number; error?: string } = {};
      const release = () => {
        clearTimeout(idle);
        if (target.incoming === call) target.incoming = undefined;
        resolve(outcomeForCaller);
      };
      const call: Call = {
        id: request.id, source, target, service: request.service, declaredSize, callerLines: 0, targetLines: 0, bytesIn: 0, bytesOut: 0,
        inputEnded: false, finished: false,
        touch: () => { idle.refresh(); },
        targetFinished: release,
        done: (outcome) => {
          if (call.finished) return;
          call.finished = true;
          outcomeForCaller = outcome;
          entry.bytesIn = call.bytesIn;
          entry.bytesOut = call.bytesOut;
          if (outcome.exitCode !== undefined) source.call.send(hostLine.exit(outcome.exitCode));
          else source.call.send(hostLine.refused(request.id, outcome.error ?? 'failed'));
          if (source.outgoing === call) source.outgoing = undefined;
          if (!call.inputEnded) {
            call.inputEnded = true;
            target.serve.send(hostLine.end());
          }
        },
      };
      idle = setTimeout(function quiet() {
        if (!call.finished) {
          call.done({ error: `no data for ${Math.round(idleTimeoutMs / 1000)} s` });
          idle = setTimeout(quiet, idleTimeoutMs);
          return;
        }
        // The target stays silent even while drained: it is ready again only when it says READY.
        target.serveReady = false;
        release();
      }, idleTimeoutMs);
      source.outgoing = call;
      target.incoming = call;
      target.serveReady = false;
      target.serve.send(hostLine.run(randomBytes(6).toString('hex'), request.service, source.name, request.arg));
      source.call.send(hostLine.accepted(request.id));
    });
  }

  let watch: LifecycleWatch | undefined;
  const ready = new Promise<void>((resolve) => {
    watch = engine.watchLifecycle((event) => {
      inventory = undefined;
      if (event.event === 'Started' || event.event === 'Resumed') void attach(event.name);
      if (event.event === 'Stopped' || event.event === 'Undefined' || event.event === 'Crashed') detach(event.name);
    }, { onReady: () => { void syncRunning().then(resolve); }, onError: notice });
  });
  // Bad lines are reported at start, not only at the first call.
  void policy.current();

  return {
    ready,
    stop() {
      stopped = true;
      watch?.stop();
      for (const name of [...links.keys()]) detach(name);
    },
  };
}
