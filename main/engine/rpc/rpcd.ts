import { randomBytes } from 'node:crypto';
import { guestKernelUp, parseDomstats } from '../disposable-pool.js';
import { VmsError } from '../errors.js';
import type { Engine } from '../index.js';
import { domainStats } from '../libvirt/domains.js';
import { openConsoleStream, type ConsoleStream } from '../libvirt/console-stream.js';
import { consoleAliases } from '../libvirt/consoles.js';
import type { LifecycleWatch } from '../libvirt/events.js';
import { RPC_CALL_CONSOLE, RPC_SERVE_CONSOLE } from './channels.js';
import { decide, explainDecision, type PolicyRequest, type VmFacts } from './policy.js';
import { PolicyStore } from './policy-files.js';
import { guestLineSplitter, hostLine, parseGuestLine, type GuestLine } from './protocol.js';
import { RateLimiter } from './rate-limit.js';
import { appendRpcLog, type RpcLogEntry } from './rpc-log.js';
import { DEFAULT_COPY_LIMIT_BYTES, HOST_ONLY_SERVICES, HOST_SOURCE, parseCopyArgument, printable, requestedTargetProblem, serviceNameProblem } from './rpc-names.js';

/**
 * `vms rpcd`: carries calls between VMs (docs/rpc.md). It holds both rpc consoles of every running VM
 * through libvirt's console stream, follows libvirt's lifecycle events to attach to VMs as they start,
 * knows a caller by the console its call came on (never by anything the guest says), decides by the
 * policy, starts the target if needed, and relays the data between the two consoles.
 */

export interface AskQuestion {
  service: string;
  source: string;
  /** The source VM's domain (label). */
  sourceLabel: string;
  /** A VM name, or @dispvm / @dispvm:TEMPLATE for a new disposable. */
  target: string;
  /** The target VM's domain, when it is a VM that exists. */
  targetLabel?: string;
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
  /** Only these VMs' consoles (a command that makes one call from the host while no rpcd runs). */
  vms?: readonly string[];
}

/** A call the host makes (`vms copy-to`, `vms run`): no policy, the user asked for it. */
export interface HostCallRequest {
  /** A running VM. */
  target: string;
  service: string;
  arg?: string;
  /** For vms.FileCopy: the size announced in `arg`, which the input may not exceed. */
  declaredSize?: number;
}

export interface HostCallIo {
  /** The call's input, read as the target takes it (none: empty). */
  input?: AsyncIterable<Buffer>;
  /** The service's output, as it comes. */
  output(bytes: Buffer): void;
}

export interface RpcService {
  /** Resolves once the lifecycle watch runs and the running VMs' consoles are being opened. */
  ready: Promise<void>;
  /** Runs a call from the host; resolves with the service's exit status, rejects with a one-line VmsError. */
  hostCall(request: HostCallRequest, io: HostCallIo): Promise<number>;
  stop(): void;
}

/** The caller of a call, as the relay sees it: a VM's call console, or the host itself. */
interface CallerEnd {
  /** The calling VM's name, or HOST_SOURCE. */
  name: string;
  /** The calling VM's link (undefined for the host). */
  link?: VmLink;
  accepted(): void;
  data(base64: string): void;
  exit(code: number): void;
  refused(reason: string): void;
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

  /** False when the caller should wait for drained() before it sends more. */
  send(text: string): boolean {
    return this.stream?.write(text) ?? false;
  }

  drained(): Promise<void> {
    return this.stream?.drained() ?? Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.stream?.close();
  }
}

interface Call {
  caller: CallerEnd;
  target: VmLink;
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
  /** The id of the CALL line being decided (the policy, the target starting) until the relay takes over. */
  calling?: string;
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

/** Host input goes to the guest in lines of this many bytes (1 KiB of base64). */
const HOST_INPUT_LINE_BYTES = 768;

function vmCaller(link: VmLink, id: string): CallerEnd {
  return {
    name: link.name,
    link,
    accepted: () => { link.call.send(hostLine.accepted(id)); },
    data: (base64) => { link.call.send(hostLine.data(base64)); },
    exit: (code) => { link.call.send(hostLine.exit(code)); },
    refused: (reason) => { link.call.send(hostLine.refused(id, reason)); },
  };
}

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

  /**
   * Asks a VM's agent whether it is idle (HELLO → READY) instead of waiting up to 10 s for its
   * heartbeat: once the guest's kernel runs (its balloon driver reports), firmware no longer reads the
   * consoles as keyboards, so writing to them is safe.
   */
  const greet = async (link: VmLink): Promise<void> => {
    if (link.serveReady) return;
    const stats = parseDomstats(await domainStats(engine.ctx.libvirt, link.name, ['--balloon']).catch(() => undefined) ?? '');
    if (guestKernelUp(stats) && !link.serveReady && links.get(link.name) === link) link.serve.send(hostLine.hello());
  };

  const attach = async (name: string): Promise<void> => {
    if (stopped || links.has(name) || withoutRpc.has(name)) return;
    if (options.vms && !options.vms.includes(name)) return;
    if (!(await facts()).has(name)) return;
    const aliases: string[] = await consoleAliases(engine.ctx.libvirt, name).catch(() => []);
    if (!aliases.includes(RPC_CALL_CONSOLE) || !aliases.includes(RPC_SERVE_CONSOLE)) {
      withoutRpc.add(name);
      return;
    }
    if (links.has(name) || stopped) return;
    const link = new VmLink(engine, name, onCallLine, onServeLine);
    links.set(name, link);
    void greet(link);
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
      if (link.outgoing || link.calling !== undefined) {
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
    if (line.kind !== 'ignored') fromCaller(call, link, line);
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

  function fromCaller(call: Call, caller: VmLink, line: GuestLine): void {
    if (call.inputEnded) return;
    if (line.kind === 'data') {
      call.callerLines++;
      call.bytesIn += line.bytes.length;
      if (call.declaredSize !== undefined && call.bytesIn > call.declaredSize) return call.done({ error: 'the file is larger than announced' });
      call.target.serve.send(hostLine.data(line.text));
    } else if (line.kind === 'window') {
      if (line.lines !== call.callerLines) return call.done({ error: `lost data on ${caller.name}'s console (the host was too slow): try again` });
      call.callerLines = 0;
      caller.call.send(hostLine.windowAck());
    } else if (line.kind === 'end') {
      call.inputEnded = true;
      call.target.serve.send(hostLine.end());
    }
  }

  function fromTarget(call: Call, target: VmLink, line: GuestLine): void {
    if (line.kind === 'data') {
      call.targetLines++;
      call.bytesOut += line.bytes.length;
      if (!call.finished) call.caller.data(line.text);
    } else if (line.kind === 'window') {
      if (line.lines !== call.targetLines && !call.finished) call.done({ error: `lost data on ${target.name}'s console (the host was too slow): try again` });
      call.targetLines = 0;
      target.serve.send(hostLine.windowAck());
    } else if (line.kind === 'release') {
      // The service goes on (an opener in a disposable); its caller is done.
      call.done({ exitCode: 0 });
    } else if (line.kind === 'exit') {
      call.done({ exitCode: line.code });
      call.targetFinished();
    } else if (line.kind === 'fail') {
      call.done({ error: printable(line.reason, 200) });
      call.targetFinished();
    }
  }

  /** A preloaded disposable was handed out, or a cold one started: the pool gets a replacement. */
  const refillPool = (template: string | undefined) => {
    if (engine.config.disposablePoolSize > 0 && template) void engine.fillDisposablePool(template, { delayMs: 5000 }).catch(() => undefined);
  };

  /** Destroys a disposable made for a call, and removes its files (waiting out another command's moment with them). */
  const discardDisposable = async (name: string) => {
    await engine.kill(name).catch((error: Error) => notice(`cannot stop the disposable ${name}: ${error.message}`));
    await engine.watchDisposable(name).catch((error: Error) => notice(`cannot remove the disposable ${name}'s files (the next vms command will): ${error.message}`));
  };

  /** The running target's link once its agent is idle, or a refusal that says why not. */
  async function readyTarget(targetName: string): Promise<VmLink> {
    await attach(targetName);
    const target = links.get(targetName);
    if (!target) throw new CallRefused(`${targetName} has no rpc consoles: recreate it with this version of vms`);
    if (!(await target.waitReady(startTimeoutMs))) throw new CallRefused(`${targetName}'s vms-rpc-agent does not answer`);
    return target;
  }

  async function runCall(source: VmLink, request: Extract<GuestLine, { kind: 'call' }>): Promise<void> {
    const started = Date.now();
    const entry: RpcLogEntry = { time: new Date().toISOString(), id: request.id, service: printable(request.service, 64), source: source.name, target: printable(request.target, 48), decision: 'refused', bytesIn: 0, bytesOut: 0, ms: 0 };
    const refuse = (reason: string) => { throw new CallRefused(reason); };
    let disposable: string | undefined;
    source.calling = request.id;
    try {
      if (!limiter.take(source.name)) refuse(`too many calls from ${source.name}: wait a moment`);
      const problem = serviceNameProblem(request.service) ?? requestedTargetProblem(request.target);
      if (problem) refuse(problem);
      if (HOST_ONLY_SERVICES.has(request.service)) refuse(`${request.service} is called by the host only (vms clipboard), never by a VM`);
      const vms = await facts();
      const sourceFacts = vms.get(source.name);
      if (!sourceFacts) refuse(`${source.name} is not a VM vms knows`);
      const policyRequest: PolicyRequest = { service: request.service, source: sourceFacts!, target: request.target, targetVm: vms.get(request.target) };
      const decision = decide(await policy.current(), policyRequest);
      entry.decision = decision.action;
      entry.rule = decision.rule ? `${decision.rule.file}:${decision.rule.line}` : undefined;
      if (decision.action === 'ask') {
        const targetVm = vms.get(decision.target);
        const question: AskQuestion = { service: request.service, source: source.name, sourceLabel: sourceFacts!.label, target: decision.target, ...(targetVm ? { targetLabel: targetVm.label } : {}), rule: entry.rule! };
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
        const made = await engine.disposable({ template });
        disposable = made.name;
        refillPool(made.meta.template);
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
      const target = await readyTarget(targetName);
      const outcome = await target.exclusive(() => relay(vmCaller(source, request.id), target, { service: request.service, arg: request.arg, declaredSize, disposable: Boolean(disposable) }, entry));
      entry.exitCode = outcome.exitCode;
      entry.error = outcome.error;
    } catch (error) {
      const reason = error instanceof CallRefused ? error.message : `the host failed: ${(error as Error).message}`;
      entry.error = reason;
      source.call.send(hostLine.refused(request.id, reason));
    } finally {
      if (source.calling === request.id) source.calling = undefined;
      entry.ms = Date.now() - started;
      await appendRpcLog(engine.config.stateDir, entry).catch((error) => notice(`cannot write the rpc log: ${(error as Error).message}`));
      if (disposable) await discardDisposable(disposable);
    }
  }

  async function hostCall(request: HostCallRequest, io: HostCallIo): Promise<number> {
    const started = Date.now();
    const id = randomBytes(6).toString('hex');
    const entry: RpcLogEntry = { time: new Date().toISOString(), id, service: request.service, source: HOST_SOURCE, target: request.target, ranIn: request.target, decision: 'host', bytesIn: 0, bytesOut: 0, ms: 0 };
    try {
      await ready;
      // The command may have just started the VM: its lifecycle event may not be here yet.
      inventory = undefined;
      const vm = (await facts()).get(request.target);
      if (!vm) throw new CallRefused(`there is no VM named ${printable(request.target, 40)}`);
      if (vm.state !== 'running') throw new CallRefused(`${request.target} is ${vm.state}: start it first`);
      const target = await readyTarget(request.target);
      let exitCode: number | undefined;
      let failure: string | undefined;
      const caller: CallerEnd = {
        name: HOST_SOURCE,
        accepted: () => undefined,
        data: (base64) => io.output(Buffer.from(base64, 'base64')),
        exit: (code) => { exitCode = code; },
        refused: (reason) => { failure = reason; },
      };
      const outcome = await target.exclusive(() => relay(caller, target, { service: request.service, arg: request.arg, declaredSize: request.declaredSize, input: io.input }, entry));
      entry.exitCode = outcome.exitCode;
      entry.error = outcome.error;
      if (exitCode === undefined) throw new CallRefused(failure ?? outcome.error ?? 'the call failed');
      return exitCode;
    } catch (error) {
      entry.error = (error as Error).message;
      throw error instanceof CallRefused ? new VmsError(`${error.message}.`) : error;
    } finally {
      entry.ms = Date.now() - started;
      await appendRpcLog(engine.config.stateDir, entry).catch((error) => notice(`cannot write the rpc log: ${(error as Error).message}`));
    }
  }

  /** Sends the host's input to the target in data lines, as fast as its console takes them. */
  async function pumpHostInput(call: Call, input: AsyncIterable<Buffer> | undefined): Promise<void> {
    try {
      for await (const chunk of input ?? []) {
        for (let at = 0; at < chunk.length && !call.finished; at += HOST_INPUT_LINE_BYTES) {
          const piece = chunk.subarray(at, at + HOST_INPUT_LINE_BYTES);
          call.bytesIn += piece.length;
          if (call.declaredSize !== undefined && call.bytesIn > call.declaredSize) return call.done({ error: 'the file is larger than announced' });
          call.touch();
          if (!call.target.serve.send(hostLine.data(piece.toString('base64')))) await call.target.serve.drained();
        }
        if (call.finished) return;
      }
    } catch (error) {
      return call.done({ error: `cannot read the input: ${(error as Error).message}` });
    }
    if (!call.inputEnded) {
      call.inputEnded = true;
      call.target.serve.send(hostLine.end());
    }
  }

  /**
   * Carries one call between its caller (a VM's call console, or the host) and the target's serve console.
   * Resolves when the target is done too: a target whose caller went away mid-call gets the end of its
   * input and is drained (its windows acknowledged) until its exit status, so its late lines never mix
   * with the next call's.
   */
  function relay(caller: CallerEnd, target: VmLink, what: { service: string; arg?: string; declaredSize?: number; disposable?: boolean; input?: AsyncIterable<Buffer> }, entry: RpcLogEntry): Promise<{ exitCode?: number; error?: string }> {
    return new Promise((resolve) => {
      let idle: NodeJS.Timeout;
      let outcomeForCaller: { exitCode?: number; error?: string } = {};
      const release = () => {
        clearTimeout(idle);
        if (target.incoming === call) target.incoming = undefined;
        resolve(outcomeForCaller);
      };
      const call: Call = {
        caller, target, declaredSize: what.declaredSize, callerLines: 0, targetLines: 0, bytesIn: 0, bytesOut: 0,
        inputEnded: false, finished: false,
        touch: () => { idle.refresh(); },
        targetFinished: release,
        done: (outcome) => {
          if (call.finished) return;
          call.finished = true;
          outcomeForCaller = outcome;
          entry.bytesIn = call.bytesIn;
          entry.bytesOut = call.bytesOut;
          if (outcome.exitCode !== undefined) caller.exit(outcome.exitCode);
          else caller.refused(outcome.error ?? 'failed');
          if (caller.link?.outgoing === call) caller.link.outgoing = undefined;
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
      if (caller.link) {
        caller.link.outgoing = call;
        caller.link.calling = undefined;
      }
      target.incoming = call;
      target.serveReady = false;
      target.serve.send(hostLine.run(randomBytes(6).toString('hex'), what.service, caller.name, what.arg, what.disposable));
      caller.accepted();
      if (!caller.link) void pumpHostInput(call, what.input);
    });
  }

  let watch: LifecycleWatch | undefined;
  const ready = new Promise<void>((resolve) => {
    watch = engine.watchLifecycle((event) => {
      inventory = undefined;
      if (event.event === 'Started') void attach(event.name);
      if (event.event === 'Resumed') {
        const link = links.get(event.name);
        // A preloaded disposable handed out: its agent has long been up.
        if (link) void greet(link);
        else void attach(event.name);
      }
      if (event.event === 'Stopped' || event.event === 'Undefined' || event.event === 'Crashed') detach(event.name);
    }, { onReady: () => { void syncRunning().then(resolve); }, onError: notice });
  });
  // Bad lines are reported at start, not only at the first call.
  void policy.current();

  return {
    ready,
    hostCall,
    stop() {
      stopped = true;
      watch?.stop();
      for (const name of [...links.keys()]) detach(name);
    },
  };
}
