import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide, explainDecision, parsePolicy, type PolicyRequest, type VmFacts } from '../../main/engine/rpc/policy.js';
import { guestLineSplitter, hostLine, parseGuestLine, WINDOW_LINES } from '../../main/engine/rpc/protocol.js';
import { RateLimiter } from '../../main/engine/rpc/rate-limit.js';
import { parseRunOutput } from '../../main/cli/commands/vm-io.js';
import { fileNameProblem, parseCopyArgument, requestedTargetProblem, serviceNameProblem } from '../../main/engine/rpc/rpc-names.js';

const vm = (name: string, label = 'work', kind: VmFacts['kind'] = 'appvm', template = 'arch'): VmFacts => ({ name, label, kind, template });
const ask = (service: string, source: VmFacts, target: string, targetVm?: VmFacts): PolicyRequest => ({ service, source, target, targetVm });

describe('rpc policy grammar', () => {
  test('rules in order, comments and blank lines skipped, options read', () => {
    const { rules, errors } = parsePolicy([
      '# who may copy where',
      'vms.FileCopy @label:work @label:work allow',
      '',
      '* @dispvm @anyvm deny   # disposables call nobody',
      'vms.OpenURL @anyvm @default allow target=@dispvm:web start=no',
    ].join('\n'), 'policy');
    assert.deepEqual(errors, []);
    assert.deepEqual(rules.map((r) => [r.line, r.service, r.source, r.target, r.action, r.redirect, r.start]), [
      [2, 'vms.FileCopy', '@label:work', '@label:work', 'allow', undefined, true],
      [4, '*', '@dispvm', '@anyvm', 'deny', undefined, true],
      [5, 'vms.OpenURL', '@anyvm', '@default', 'allow', '@dispvm:web', false],
    ]);
  });

  test('bad lines are one-line errors naming FILE:LINE, and are never half-applied', () => {
    const { rules, errors } = parsePolicy([
      'vms.Ping a b alow',
      'vms.Ping a',
      'vms.Ping @label:Work b allow',
      'vms.Ping a @default allow',
      'vms.Ping a b deny target=c',
      'vms.Ping a b allow colour=red',
      '../x a b allow',
      'vms.Ping a b allow',
    ].join('\n'), '/home/u/.config/vms/policy');
    assert.equal(rules.length, 1);
    assert.equal(rules[0].line, 8);
    assert.deepEqual(errors.map((e) => e.line), [1, 2, 3, 4, 5, 6, 7]);
    assert.match(errors[0].message, /^\/home\/u\/\.config\/vms\/policy:1: "alow" is not an action \(allow, deny or ask\)/);
    assert.match(errors[3].message, /allowing @default needs target=NAME/);
    for (const error of errors) assert.doesNotMatch(error.message, /\n/);
  });
});

describe('rpc policy decisions', () => {
  const { rules } = parsePolicy([
    'vms.FileCopy mail vault deny',
    'vms.FileCopy @label:work @label:work allow',
    'vms.Ping @anyvm @anyvm ask',
    'vms.OpenURL @anyvm @default allow target=@dispvm:web',
    'vms.OpenURL @dispvm:web @anyvm deny',
    'vms.OpenURL @anyvm @dispvm allow',
  ].join('\n'), 'p');
  const mail = vm('mail');
  const vault = vm('vault');
  const notes = vm('notes');
  const bank = vm('bank', 'banking');

  test('the first matching line decides', () => {
    assert.equal(decide(rules, ask('vms.FileCopy', mail, 'vault', vault)).action, 'deny');
    assert.equal(decide(rules, ask('vms.FileCopy', mail, 'notes', notes)).rule?.line, 2);
    assert.equal(decide(rules, ask('vms.FileCopy', mail, 'notes', notes)).action, 'allow');
  });

  test('nothing matches: deny by default, and the explanation says so', () => {
    const request = ask('vms.FileCopy', mail, 'bank', bank);
    const decision = decide(rules, request);
    assert.equal(decision.action, 'deny');
    assert.equal(decision.rule, undefined);
    assert.match(explainDecision(decision, request), /no policy line matches; the default is deny/);
  });

  test('@default goes where target= says; @dispvm matches only disposables', () => {
    const viaDefault = decide(rules, ask('vms.OpenURL', mail, '@default'));
    assert.deepEqual([viaDefault.action, viaDefault.target], ['allow', '@dispvm:web']);
    assert.match(explainDecision(viaDefault, ask('vms.OpenURL', mail, '@default')), /redirected to @dispvm:web by p:4/);
    const disposable = vm('disp1234', 'disposable', 'disposable', 'web');
    assert.equal(decide(rules, ask('vms.OpenURL', disposable, 'mail', mail)).rule?.line, 5);
    assert.equal(decide(rules, ask('vms.OpenURL', mail, 'notes', notes)).action, 'deny', '@anyvm is no @default');
    assert.equal(decide(rules, ask('vms.OpenURL', mail, '@dispvm:web')).rule?.line, 6);
  });

  test('a * line never allows a shell service (vms.Run); a line that names it does', () => {
    const { rules } = parsePolicy('* @anyvm @anyvm allow\n', 'p');
    assert.equal(decide(rules, ask('vms.Run', vm('mail'), 'vault', vm('vault'))).action, 'deny');
    assert.equal(decide(rules, ask('vms.FileCopy', vm('mail'), 'vault', vm('vault'))).action, 'allow');
    const named = parsePolicy('vms.Run mail vault allow\n* @anyvm @anyvm deny\n', 'p').rules;
    assert.equal(decide(named, ask('vms.Run', vm('mail'), 'vault', vm('vault'))).action, 'allow');
  });

  test('a target that does not exist is matched by name or @anyvm only', () => {
    assert.equal(decide(rules, ask('vms.Ping', mail, 'ghost')).action, 'ask');
    assert.equal(decide(rules, ask('vms.FileCopy', mail, 'ghost')).action, 'deny');
  });
});

describe('rpc line protocol', () => {
  test('a call, its data, windows and end', () => {
    const arg = Buffer.from('12 notes.txt').toString('base64');
    assert.deepEqual(parseGuestLine(`CALL ab12 vms.FileCopy work ${arg}\r`), { kind: 'call', id: 'ab12', service: 'vms.FileCopy', target: 'work', arg: '12 notes.txt' });
    assert.deepEqual(parseGuestLine('CALL ab12 vms.Ping work'), { kind: 'call', id: 'ab12', service: 'vms.Ping', target: 'work' });
    const data = parseGuestLine('D aGVsbG8=');
    assert.equal(data.kind, 'data');
    assert.equal(data.kind === 'data' && data.bytes.toString(), 'hello');
    assert.deepEqual(parseGuestLine(`W ${WINDOW_LINES}`), { kind: 'window', lines: WINDOW_LINES });
    assert.deepEqual(parseGuestLine('E'), { kind: 'end' });
    assert.deepEqual(parseGuestLine('X 3'), { kind: 'exit', code: 3 });
  });

  test('what a guest says about itself is not part of a call', () => {
    const arg = Buffer.from('12 a').toString('base64');
    assert.ok(arg.endsWith('='), 'base64 padding is no key=value word');
    const line = parseGuestLine(`CALL id1 vms.Ping work ${arg} source=vault from=vault`);
    assert.deepEqual(line, { kind: 'call', id: 'id1', service: 'vms.Ping', target: 'work', arg: '12 a' });
  });

  test('bad lines are invalid or ignored, never trusted', () => {
    assert.equal(parseGuestLine('D not base64!').kind, 'invalid');
    assert.equal(parseGuestLine(`W ${WINDOW_LINES + 1}`).kind, 'invalid', 'more than one window in flight');
    assert.equal(parseGuestLine('X 300').kind, 'invalid');
    assert.equal(parseGuestLine('CALL bad-id! vms.Ping work').kind, 'invalid');
    assert.equal(parseGuestLine('BdsDxe: loading Boot0001').kind, 'ignored', 'firmware output');
    assert.equal(parseGuestLine('D ' + 'A'.repeat(5000)).kind, 'invalid');
  });

  test('host lines are single lines', () => {
    assert.equal(hostLine.refused('id1', 'no\nway'), 'F id1 no way\n');
    assert.equal(hostLine.run('r1', 'vms.FileCopy', 'mail', '3 a'), `RUN r1 vms.FileCopy mail ${Buffer.from('3 a').toString('base64')}\n`);
    // The argument's place is always taken ("-": none), so the agent never reads a flag as an argument.
    assert.equal(hostLine.run('r2', 'vms.Ping', 'mail'), 'RUN r2 vms.Ping mail -\n');
    assert.equal(hostLine.run('r3', 'vms.OpenURL', 'mail', '', true), 'RUN r3 vms.OpenURL mail - disposable\n');
    assert.equal(hostLine.run('r4', 'vms.Run', '@host', 'ls', false), `RUN r4 vms.Run @host ${Buffer.from('ls').toString('base64')}\n`);
    assert.equal(hostLine.hello(), 'HELLO\n');
  });

  test('a target that goes on: still running, and its caller released', () => {
    assert.deepEqual(parseGuestLine('P\r'), { kind: 'alive' });
    assert.deepEqual(parseGuestLine('L'), { kind: 'release' });
  });

  test('the splitter joins chunks into lines and drops over-long junk', () => {
    const lines: string[] = [];
    const feed = guestLineSplitter((l) => lines.push(l));
    feed(Buffer.from('CALL a vms.P'));
    feed(Buffer.from('ing w\nD QQ==\n'));
    feed(Buffer.from('x'.repeat(5000)));
    feed(Buffer.from('E\n'));
    assert.deepEqual(lines, ['CALL a vms.Ping w', 'D QQ==', 'E']);
  });
});

describe('rpc names and limits', () => {
  test('copied file names are one plain component', () => {
    assert.equal(fileNameProblem('report.pdf'), undefined);
    assert.equal(fileNameProblem('with space.txt'), undefined);
    assert.match(fileNameProblem('../../etc/passwd')!, /holds a slash/);
    for (const bad of ['', '.', '..', 'a/b', 'x\ny', '.vms-incoming.123', 'é'.repeat(200)]) assert.ok(fileNameProblem(bad), bad);
  });

  test('vms.FileCopy\'s argument: size and name, within the limit', () => {
    assert.deepEqual(parseCopyArgument('12 a b.txt', 100), { size: 12, name: 'a b.txt' });
    assert.match(parseCopyArgument('200 a', 100) as string, /more than the limit/);
    assert.match(parseCopyArgument('5 ../x', 100) as string, /slash/);
    assert.match(parseCopyArgument('x a', 100) as string, /SIZE NAME/);
    assert.match(parseCopyArgument(undefined, 100) as string, /SIZE NAME/);
  });

  test('service names and targets', () => {
    assert.equal(serviceNameProblem('vms.FileCopy'), undefined);
    assert.ok(serviceNameProblem('../bin/sh'));
    assert.ok(serviceNameProblem('.hidden'));
    for (const good of ['work', '@default', '@dispvm', '@dispvm:arch']) assert.equal(requestedTargetProblem(good), undefined, good);
    for (const bad of ['@anyvm', '@dispvm:', 'a b', '../x']) assert.ok(requestedTargetProblem(bad), bad);
  });

  test('a flooding caller is limited; others are not', () => {
    const limiter = new RateLimiter(3, 1);
    const now = 1_000_000;
    assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('flood', now)), [true, true, true, false]);
    assert.equal(limiter.take('calm', now), true);
    assert.equal(limiter.take('flood', now + 1000), true, 'one more after a second');
  });
});

describe('vms run', () => {
  test('vms.Run\'s answer is split into stdout and stderr by its byte counts', () => {
    const answer = Buffer.concat([Buffer.from('vms-run 4 3\n'), Buffer.from('out\n'), Buffer.from('er\n')]);
    assert.deepEqual(parseRunOutput(answer), { stdout: Buffer.from('out\n'), stderr: Buffer.from('er\n') });
    assert.deepEqual(parseRunOutput(Buffer.from('vms-run 0 0\n')), { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) });
    assert.equal(parseRunOutput(Buffer.from('vms-run 5 0\nout\n')), undefined, 'a short answer');
    assert.equal(parseRunOutput(Buffer.from('hello\n')), undefined);
    assert.equal(parseRunOutput(Buffer.alloc(0)), undefined);
  });
});
