// raftkv replay player: plays a recorded simulator run (sim/replay/recorder.h) on virtual
// time. Plain JavaScript and SVG, no libraries, nothing fetched. Data layout: replay_html.cc.
'use strict';
(function () {
const D = JSON.parse(document.getElementById('replay-data').textContent);
const S = D.strings;
const NODES = D.nodes;               // node ids by slot
const N = NODES.length;
const SLOT = new Map(NODES.map((id, i) => [id, i]));
const ROLES = ['follower', 'pre-candidate', 'candidate', 'leader', 'down'];
// Node state fields (recorder.h ReplayData::Field).
const F = { role: 0, term: 1, vote: 2, lead: 3, commit: 4, applied: 5, last: 6, first: 7, durable: 8, conf: 9, snap: 10 };
const NF = 11;
const MSG = {
  10: ['AppendEntries', 'app'], 11: ['AppendEntries reply', 'appr'], 12: ['RequestVote', 'vote'],
  13: ['RequestVote reply', 'voter'], 14: ['PreVote', 'pre'], 15: ['PreVote reply', 'prer'],
  16: ['InstallSnapshot', 'snap'], 17: ['Heartbeat', 'hb'], 18: ['Heartbeat reply', 'hbr'],
  19: ['ReadIndex', 'ri'], 20: ['ReadIndex reply', 'rir'], 21: ['TimeoutNow', 'tn'], 22: ['TransferLeader', 'tl'],
};
const FATES = ['in flight at the end', 'delivered', 'lost in flight (link cut)', 'receiver down',
  'dropped: link cut', 'dropped: random loss', 'dropped by the scenario'];
const PROPS = ['election-safety', 'leader-append-only', 'log-matching', 'leader-completeness',
  'state-machine-safety', 'leader-commit-rule', 'term-monotonic', 'commit-monotonic',
  'config-agreement', 'quorum-overlap', 'disjoint-majorities', 'one-change-at-a-time',
  'linearizability', 'liveness', 'recovery'];
const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

// ---- decoding --------------------------------------------------------------------------
function bytes(b64) {
  const bin = atob(b64);
  const u = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
  return u;
}
function varints(u) {
  let p = 0;
  return {
    more: () => p < u.length,
    next: () => {
      let x = 0, mul = 1, b;
      do { b = u[p++]; x += (b & 127) * mul; mul *= 128; } while (b & 128);
      return x;
    },
  };
}

// Messages, as columns of typed arrays (11 varints each; see replay_html.cc).
const M = (function () {
  const u = bytes(D.messages);
  let ends = 0;
  for (let i = 0; i < u.length; i++) if (!(u[i] & 128)) ends++;
  const n = ends / 11;
  const m = {
    n, sent: new Float64Array(n), arrive: new Float64Array(n), from: new Uint8Array(n), to: new Uint8Array(n),
    type: new Uint8Array(n), term: new Uint32Array(n), index: new Uint32Array(n), logTerm: new Uint32Array(n),
    commit: new Uint32Array(n), entries: new Uint32Array(n), flags: new Uint8Array(n),
  };
  const r = varints(u);
  let t = 0;
  m.maxFlight = 0; m.delayed = [];
  for (let i = 0; i < n; i++) {
    t += r.next(); m.sent[i] = t;
    m.from[i] = r.next(); m.to[i] = r.next(); m.type[i] = r.next(); m.term[i] = r.next();
    m.index[i] = r.next(); m.logTerm[i] = r.next(); m.commit[i] = r.next(); m.entries[i] = r.next();
    m.flags[i] = r.next(); m.arrive[i] = t + r.next();
    if (m.flags[i] & 32) m.delayed.push(i); else m.maxFlight = Math.max(m.maxFlight, m.arrive[i] - t);
  }
  return m;
})();
const fate = (i) => M.flags[i] & 7;
const droppedAtSend = (i) => fate(i) >= 4;
const lostAtArrival = (i) => fate(i) === 2 || fate(i) === 3;
const SHOW_LOSS = Math.max(300, M.maxFlight);  // how long a lost message's ✕ stays visible (µs)

// Change records (replay_html.cc): node states, log changes, notes, links, violations.
const R = (function () {
  const r = varints(bytes(D.records));
  const out = [];
  let t = 0;
  while (r.more()) {
    t += r.next();
    const k = r.next();
    const rec = { t, k };
    if (k === 1) {
      rec.slot = r.next(); rec.mask = r.next(); rec.v = [];
      for (let f = 0; f < NF; f++) if (rec.mask & (1 << f)) rec.v.push([f, r.next()]);
    } else if (k === 2) {
      rec.slot = r.next(); rec.keep = r.next(); const c = r.next(); rec.terms = new Array(c);
      for (let i = 0; i < c; i++) rec.terms[i] = r.next();
    } else if (k === 3) { rec.node = r.next(); rec.text = S[r.next()]; }
    else if (k === 4) { rec.a = r.next(); rec.b = r.next(); rec.up = r.next(); }
    else if (k === 5) { rec.text = S[r.next()]; }
    out.push(rec);
  }
  return out;
})();
const END = Math.max(D.end, R.length ? R[R.length - 1].t : 0, M.n ? M.arrive[M.n - 1] : 0);

const ENTRY = new Map();  // "index/term" -> label
for (let i = 0; i + 2 < D.entries.length; i += 3) ENTRY.set(D.entries[i] + '/' + D.entries[i + 1], S[D.entries[i + 2]]);

// Per node, per log index: the writes [record number, term, ...] in time order, so that a
// node's log at any moment is read without replaying it.
const WRITES = NODES.map(() => []);
R.forEach((rec, seq) => {
  if (rec.k !== 2) return;
  const w = WRITES[rec.slot];
  rec.terms.forEach((term, j) => {
    const idx = rec.keep + 1 + j;
    (w[idx] || (w[idx] = [])).push(seq, term);
  });
});

// ---- state at a point of the record stream, with keyframes for seeking --------------------
function freshState() {
  return { cursor: 0, nodes: NODES.map(() => new Float64Array(NF)), logLast: new Float64Array(N),
    links: new Uint8Array(N * N).fill(1), violations: [] };
}
function copyState(s) {
  return { cursor: s.cursor, nodes: s.nodes.map((a) => a.slice()), logLast: s.logLast.slice(),
    links: s.links.slice(), violations: s.violations.slice() };
}
function applyRecord(s, rec) {
  if (rec.k === 1) for (const [f, v] of rec.v) s.nodes[rec.slot][f] = v;
  else if (rec.k === 2) s.logLast[rec.slot] = rec.keep + rec.terms.length;
  else if (rec.k === 4) s.links[rec.a * N + rec.b] = rec.up;
  else if (rec.k === 5) s.violations.push(rec);
}
const KEYFRAMES = [];
(function () {
  const s = freshState();
  for (let i = 0; i < R.length; i++) {
    if (i % 2048 === 0) KEYFRAMES.push(copyState(s));
    applyRecord(s, R[i]); s.cursor = i + 1;
  }
})();
let st = freshState();
// Moves the state to "every record with time <= t applied".
function moveTo(t) {
  let target = upperBound(R.length, (i) => R[i].t <= t);
  if (target < st.cursor) st = copyState(KEYFRAMES[Math.floor(target / 2048)] || KEYFRAMES[0] || freshState());
  else if (target - st.cursor > 4096) {
    const kf = KEYFRAMES[Math.floor(target / 2048)];
    if (kf && kf.cursor > st.cursor) st = copyState(kf);
  }
  while (st.cursor < target) applyRecord(st, R[st.cursor++]);
}
// First i in [0, n) where pred(i) is false (pred true on a prefix).
function upperBound(n, pred) {
  let lo = 0, hi = n;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (pred(mid)) lo = mid + 1; else hi = mid; }
  return lo;
}
function termAt(slot, idx, cursor) {
  const w = WRITES[slot][idx];
  if (!w) return 0;
  let t = 0;
  for (let j = 0; j < w.length && w[j] < cursor; j += 2) t = w[j + 1];
  return t;
}

// ---- narrative: what happened, for the event list and the timeline -------------------------
function classify(text) {
  if (/^(CRASH|RESTART|PARTITION|ISOLATE|CUT|RESTORE|HEAL|DISK|SLOW DISK|DROP|DELAY|DUP|REORDER|NET)/.test(text)) return 'fault';
  if (/^PHASE/.test(text)) return 'phase';
  if (/^SNAPSHOT|snapshot/i.test(text)) return 'snap';
  if (/CONF CHANGE|refused|TRANSFER|member/i.test(text)) return 'member';
  return 'note';
}
const STORY = [];  // {t, cls, text, node}
(function () {
  const role = new Float64Array(N).fill(-1), term = new Float64Array(N);
  for (const rec of R) {
    if (rec.k === 3 && /^client /.test(rec.text)) continue;  // the client panel has these
    if (rec.k === 3) STORY.push({ t: rec.t, cls: classify(rec.text), text: (rec.node ? 'n' + rec.node + ' ' : '') + rec.text, node: rec.node });
    else if (rec.k === 5) STORY.push({ t: rec.t, cls: 'viol', text: 'VIOLATION ' + rec.text });
    else if (rec.k === 1) {
      for (const [f, v] of rec.v) if (f === F.term) term[rec.slot] = v;
      for (const [f, v] of rec.v) {
        if (f !== F.role || v === role[rec.slot]) continue;
        const was = role[rec.slot]; role[rec.slot] = v;
        if (was < 0 && v === 0) continue;
        const id = NODES[rec.slot];
        if (v === 1) STORY.push({ t: rec.t, cls: 'elect', node: id, text: `n${id} times out: pre-vote round for term ${term[rec.slot] + 1}` });
        else if (v === 2) STORY.push({ t: rec.t, cls: 'elect', node: id, text: `n${id} becomes candidate in term ${term[rec.slot]} (votes for itself)` });
        else if (v === 3) STORY.push({ t: rec.t, cls: 'leader', node: id, text: `n${id} becomes LEADER of term ${term[rec.slot]}` });
        else if (v === 0 && was === 3) STORY.push({ t: rec.t, cls: 'elect', node: id, text: `n${id} steps down (term ${term[rec.slot]})` });
      }
    }
  }
})();
const VIOLATIONS = R.filter((r) => r.k === 5);

// ---- drawing helpers ---------------------------------------------------------------------
function el(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function fmtTime(us) {
  const s = Math.floor(us / 1e6), r = Math.round(us % 1e6);
  return s + '.' + String(r).padStart(6, '0').replace(/(\d{3})(\d{3})/, '$1 $2') + ' s';
}
function shortTime(us) { return (us / 1e6).toFixed(3); }
function termColor(term, light) {
  if (!term) return '#eef1f4';
  const h = (term * 67 + 200) % 360;
  return `hsl(${h}, ${light ? 45 : 55}%, ${light ? 90 : 74}%)`;
}
const ROLE_FILL = ['#4f6d8f', '#eab308', '#ea580c', '#15803d', '#3b3f45'];
function confOf(s) {
  // The configuration as the leader (or the live node with the highest term) sees it.
  let best = -1, bestTerm = -1;
  for (let i = 0; i < N; i++) {
    const n = s.nodes[i];
    if (n[F.role] === 4) continue;
    const score = (n[F.role] === 3 ? 1e12 : 0) + n[F.term];
    if (score > bestTerm) { bestTerm = score; best = i; }
  }
  const text = best >= 0 ? S[s.nodes[best][F.conf]] || '' : '';
  const [voters, ...rest] = text.split('|');
  const conf = { voters: new Set(voters ? voters.split(',').map(Number) : []), learners: new Set(), outgoing: new Set(), text };
  for (const part of rest) {
    const ids = part.slice(1).split(',').map(Number);
    ids.forEach((id) => (part[0] === 'l' ? conf.learners : conf.outgoing).add(id));
  }
  return conf;
}

// ---- the ring ----------------------------------------------------------------------------
const ring = $('ring');
const W = 600, H = 460, CX = 300, CY = 222, RAD = N <= 3 ? 150 : 170, NR = N <= 5 ? 36 : 30;
const POS = NODES.map((_, i) => {
  const a = -Math.PI / 2 + (2 * Math.PI * i) / N;
  return [CX + RAD * Math.cos(a), CY + RAD * Math.sin(a)];
});
const gLinks = el('g', {}, ring), gMsgs = el('g', {}, ring), gNodes = el('g', {}, ring);
const center = el('text', { x: CX, y: CY - 14, 'text-anchor': 'middle', 'font-size': 22, 'font-weight': 700, fill: '#1f2933' }, ring);
const center2 = el('text', { x: CX, y: CY + 10, 'text-anchor': 'middle', 'font-size': 13, fill: '#52606d' }, ring);
const center3 = el('text', { x: CX, y: CY + 28, 'text-anchor': 'middle', 'font-size': 12, fill: '#7b8794' }, ring);
const LINKS = [];
for (let a = 0; a < N; a++) for (let b = a + 1; b < N; b++) {
  const [x1, y1] = POS[a], [x2, y2] = POS[b];
  const line = el('line', { x1, y1, x2, y2, stroke: '#d9dee4', 'stroke-width': 1.5 }, gLinks);
  const mark = el('text', { x: (x1 + x2) / 2, y: (y1 + y2) / 2 + 5, 'text-anchor': 'middle', 'font-size': 15, fill: '#dc2626', 'font-weight': 700 }, gLinks);
  LINKS.push({ a, b, line, mark });
}
const NODE_G = NODES.map((id, i) => {
  const [x, y] = POS[i];
  const g = el('g', { class: 'node', 'data-node': id }, gNodes);
  const halo = el('circle', { cx: x, cy: y, r: NR + 7, fill: 'none', stroke: '#dc2626', 'stroke-width': 4, visibility: 'hidden' }, g);
  const c = el('circle', { cx: x, cy: y, r: NR, fill: ROLE_FILL[0], stroke: '#fff', 'stroke-width': 3 }, g);
  const name = el('text', { x, y: y - 3, 'text-anchor': 'middle', 'font-size': 17, 'font-weight': 700, fill: '#fff' }, g);
  name.textContent = 'n' + id;
  const term = el('text', { x, y: y + 14, 'text-anchor': 'middle', 'font-size': 11.5, fill: '#fff' }, g);
  const below = el('text', { x, y: y + NR + 16, 'text-anchor': 'middle', 'font-size': 12, 'font-weight': 600, fill: '#323f4b' }, g);
  const below2 = el('text', { x, y: y + NR + 30, 'text-anchor': 'middle', 'font-size': 11, fill: '#66727f' }, g);
  const cross = el('text', { x, y: y + 12, 'text-anchor': 'middle', 'font-size': 44, fill: '#dc2626', 'font-weight': 700, visibility: 'hidden' }, g);
  cross.textContent = '✕';
  const title = el('title', {}, g);
  return { g, halo, c, term, below, below2, cross, title };
});
// Message glyphs are pooled SVG groups, reused every frame.
const POOL = [];
function glyph(k) {
  if (POOL[k]) return POOL[k];
  const g = el('g', {}, gMsgs);
  const shape = el('circle', { r: 5 }, g);
  const ring2 = el('circle', { r: 9, fill: 'none', stroke: '#7c3aed', 'stroke-dasharray': '3 2', 'stroke-width': 1.5 }, g);
  const x = el('text', { 'text-anchor': 'middle', 'font-size': 14, 'font-weight': 700, fill: '#dc2626', y: 5 }, g);
  x.textContent = '✕';
  const title = el('title', {}, g);
  return (POOL[k] = { g, shape, ring2, x, title });
}
const MSG_STYLE = {
  10: ['#2563eb', true], 11: ['#2563eb', false], 12: ['#ea580c', true], 13: ['#ea580c', false],
  14: ['#d4a106', true], 15: ['#d4a106', false], 16: ['#7c3aed', true], 17: ['#94a3b8', true],
  18: ['#94a3b8', false], 19: ['#0d9488', true], 20: ['#0d9488', false], 21: ['#dc2626', true], 22: ['#dc2626', false],
};
function describeMsg(i) {
  const ty = M.type[i];
  const name = (MSG[ty] || ['message ' + ty])[0];
  let s = `${name} n${M.from[i]}→n${M.to[i]} term ${M.term[i]}`;
  if (ty === 10) s += ` prev ${M.index[i]}/${M.logTerm[i]}, ${M.entries[i]} entries, commit ${M.commit[i]}`;
  else if (ty === 12 || ty === 14) s += ` last log ${M.index[i]}/${M.logTerm[i]}`;
  else if (ty === 11) s += M.flags[i] & 8 ? ` REJECTED at ${M.index[i]}` : ` match ${M.index[i]}`;
  else if (ty === 13 || ty === 15) s += M.flags[i] & 8 ? ' REJECTED' : ' GRANTED';
  else if (ty === 16) s += ` snapshot at ${M.index[i]}`;
  else if (ty === 17) s += ` commit ${M.commit[i]}`;
  s += ` · sent ${shortTime(M.sent[i])} s · ${FATES[fate(i)]}`;
  if (M.flags[i] & 32) s += ' · long delay';
  if (M.flags[i] & 16) s += ' · duplicate';
  return s;
}
function drawMessages(t, dtFrame) {
  let k = 0;
  const draw = (i) => {
    if (k >= 500) return;
    const a = SLOT.get(M.from[i]), b = SLOT.get(M.to[i]);
    if (a === undefined || b === undefined) return;
    const [x1, y1] = POS[a], [x2, y2] = POS[b];
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const ox = ((y2 - y1) / len) * 7, oy = (-(x2 - x1) / len) * 7;  // keep a->b and b->a apart
    const sx = x1 + ((x2 - x1) * NR) / len, sy = y1 + ((y2 - y1) * NR) / len;
    const ex = x2 - ((x2 - x1) * NR) / len, ey = y2 - ((y2 - y1) * NR) / len;
    let f, lost = false;
    if (droppedAtSend(i)) { f = 0.12; lost = true; }
    else if (t >= M.arrive[i]) { f = 1; lost = true; }
    else f = (t - M.sent[i]) / Math.max(1, M.arrive[i] - M.sent[i]);
    const x = sx + (ex - sx) * f + ox, y = sy + (ey - sy) * f + oy;
    const gl = glyph(k++);
    const ty = M.type[i];
    const [color, filled] = MSG_STYLE[ty] || ['#64748b', true];
    const small = ty === 17 || ty === 18;
    const r = ty === 16 ? 8 : small ? 3.5 : ty === 10 ? 4.5 + Math.min(3.5, Math.log2(1 + M.entries[i])) : 5;
    gl.g.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    gl.g.style.display = '';
    gl.shape.setAttribute('r', r);
    gl.shape.setAttribute('fill', lost ? 'none' : filled ? color : '#fff');
    const rejected = (M.flags[i] & 8) !== 0;
    const granted = !rejected && (ty === 13 || ty === 15);
    gl.shape.setAttribute('stroke', rejected ? '#dc2626' : granted ? '#15803d' : color);
    gl.shape.setAttribute('stroke-width', rejected || granted ? 2.5 : 1.5);
    gl.shape.style.opacity = lost ? 0.35 : 1;
    gl.ring2.style.display = M.flags[i] & 32 ? '' : 'none';
    gl.x.style.display = lost ? '' : 'none';
    gl.title.textContent = describeMsg(i);
  };
  // Normal messages: sent within the longest normal flight (plus the time a loss stays shown).
  const from = upperBound(M.n, (i) => M.sent[i] < t - M.maxFlight - SHOW_LOSS);
  const to = upperBound(M.n, (i) => M.sent[i] <= t);
  const visible = (i) => {
    if (droppedAtSend(i)) return t - M.sent[i] < SHOW_LOSS;
    if (t < M.arrive[i]) return true;
    return lostAtArrival(i) && t - M.arrive[i] < SHOW_LOSS;
  };
  for (let i = to - 1; i >= from; i--) if (visible(i) && !(M.flags[i] & 32)) draw(i);
  for (const i of M.delayed) if (M.sent[i] <= t && visible(i)) draw(i);
  for (let j = k; j < POOL.length; j++) POOL[j].g.style.display = 'none';
  return k;
}
function drawRing(t, s, conf) {
  for (const L of LINKS) {
    const ab = s.links[L.a * N + L.b], ba = s.links[L.b * N + L.a];
    const cut = !ab || !ba;
    L.line.setAttribute('stroke', cut ? '#f87171' : '#d9dee4');
    L.line.setAttribute('stroke-dasharray', cut ? '6 5' : '');
    L.mark.textContent = !ab && !ba ? '✕' : !ab ? '✕→' : !ba ? '←✕' : '';
    if (!ab && ba) L.mark.textContent = 'n' + NODES[L.a] + '↛n' + NODES[L.b];
    if (ab && !ba) L.mark.textContent = 'n' + NODES[L.b] + '↛n' + NODES[L.a];
  }
  let leader = 0, leaderTerm = 0;
  NODES.forEach((id, i) => {
    const n = s.nodes[i], G = NODE_G[i];
    const role = n[F.role];
    const member = conf.voters.has(id) || conf.learners.has(id) || conf.outgoing.has(id) || conf.text === '';
    const learner = conf.learners.has(id);
    G.c.setAttribute('fill', ROLE_FILL[role] || ROLE_FILL[0]);
    G.c.setAttribute('stroke', member ? (role === 3 ? '#facc15' : '#fff') : '#9aa5b1');
    G.c.setAttribute('stroke-width', role === 3 ? 5 : 3);
    G.c.setAttribute('stroke-dasharray', member ? '' : '5 4');
    G.g.style.opacity = member || role !== 4 ? 1 : 0.45;
    G.term.textContent = 'term ' + n[F.term];
    G.cross.setAttribute('visibility', role === 4 ? 'visible' : 'hidden');
    let label = role === 4 ? 'down' : ROLES[role];
    if (learner) label += ' · learner';
    if (!member) label += ' · not a member';
    G.below.textContent = label;
    G.below.setAttribute('fill', role === 3 ? '#15803d' : role === 4 ? '#dc2626' : '#323f4b');
    G.below2.textContent = `commit ${n[F.commit]} · last ${s.logLast[i]}`;
    G.title.textContent = `n${id}: ${label}, term ${n[F.term]}, voted ${n[F.vote] ? 'n' + n[F.vote] : '-'}, leader ${n[F.lead] ? 'n' + n[F.lead] : '-'}, commit ${n[F.commit]}, applied ${n[F.applied]}`;
    if (role === 3 && n[F.term] >= leaderTerm) { leader = id; leaderTerm = n[F.term]; }
  });
  center.textContent = fmtTime(t);
  center2.textContent = leader ? `leader n${leader} · term ${leaderTerm}` : 'no leader';
  center3.textContent = conf.text ? 'voters ' + [...conf.voters].join(',') + (conf.learners.size ? ' · learners ' + [...conf.learners].join(',') : '') + (conf.outgoing.size ? ' · joint with ' + [...conf.outgoing].join(',') : '') : '';
}

// ---- side panels -------------------------------------------------------------------------
const tbody = $('nodes').querySelector('tbody');
const ROWS = NODES.map((id) => {
  const tr = document.createElement('tr');
  tr.dataset.node = id;
  tr.innerHTML = '<td>n' + id + '</td>' + '<td></td>'.repeat(9);
  tbody.appendChild(tr);
  return tr;
});
function drawTable(s, hl) {
  NODES.forEach((id, i) => {
    const n = s.nodes[i], tds = ROWS[i].children, role = n[F.role];
    ROWS[i].className = (role === 4 ? 'down' : '') + (hl.has(id) ? ' hl' : '');
    const roleName = role === 4 ? 'down' : ROLES[role];
    const html = `<span class="role ${roleName}">${roleName}</span>`;
    if (tds[1].innerHTML !== html) tds[1].innerHTML = html;
    const vals = [n[F.term], n[F.vote] ? 'n' + n[F.vote] : '–', n[F.lead] ? 'n' + n[F.lead] : '–', s.logLast[i],
      n[F.commit], n[F.applied], n[F.durable], n[F.snap] || '–'];
    vals.forEach((v, j) => { if (tds[j + 2].textContent !== String(v)) tds[j + 2].textContent = v; });
  });
}
const propsEl = $('props');
const PROP_EL = new Map();
for (const p of PROPS) {
  const e = document.createElement('span');
  e.className = 'prop'; e.textContent = p; e.dataset.prop = p;
  propsEl.appendChild(e); PROP_EL.set(p, e);
}
function propertyOf(text) { const i = text.indexOf(':'); return i > 0 ? text.slice(0, i) : 'safety'; }
function drawProps(s) {
  const bad = new Set(s.violations.map((v) => propertyOf(v.text)));
  for (const [p, e] of PROP_EL) e.classList.toggle('bad', bad.has(p));
  for (const p of bad) if (!PROP_EL.has(p)) {
    const e = document.createElement('span');
    e.className = 'prop bad'; e.textContent = p; e.dataset.prop = p; propsEl.appendChild(e); PROP_EL.set(p, e);
  }
  const box = $('violation');
  if (s.violations.length) {
    const v = s.violations[0];
    box.hidden = false;
    box.textContent = `at ${fmtTime(v.t)}: ${v.text}` + (s.violations.length > 1 ? ` (+${s.violations.length - 1} more)` : '');
  } else box.hidden = true;
  const hl = new Set();
  for (const v of s.violations) for (const m of v.text.matchAll(/\b(?:n|node )(\d+)\b/g)) hl.add(Number(m[1]));
  return hl;
}
const evList = $('events');
let storyShown = -1;
function drawStory(t) {
  const upto = upperBound(STORY.length, (i) => STORY[i].t <= t);
  if (upto === storyShown) return;
  storyShown = upto;
  const from = Math.max(0, upto - 60), to = Math.min(STORY.length, upto + 4);
  evList.innerHTML = '';
  for (let i = from; i < to; i++) {
    const e = STORY[i], li = document.createElement('li');
    li.className = 'ev-' + e.cls + (i === upto - 1 ? ' now' : '') + (i >= upto ? ' future' : '');
    li.innerHTML = `<span class="t">${shortTime(e.t)}</span>`;
    li.appendChild(document.createTextNode(e.text));
    li.title = e.text;
    li.onclick = () => { pause(); seek(e.t); };
    evList.appendChild(li);
  }
  const now = evList.querySelector('.now');
  if (now) evList.scrollTop = now.offsetTop - evList.clientHeight + 40;
}
const OPS = D.ops.map((o) => ({ client: o[0], kind: ['put', 'get', 'cas'][o[1]], key: S[o[2]], value: S[o[3]],
  expected: S[o[4]], call: o[5], ret: o[6], outcome: o[7], read: o[8], cas: o[9] })).sort((a, b) => a.call - b.call);
const opsList = $('ops');
let opsShown = '';
function opText(o, t) {
  let what = o.kind === 'put' ? `put ${o.key}=${o.value}` : o.kind === 'get' ? `get ${o.key}` : `cas ${o.key} ${o.expected}→${o.value}`;
  let cls, res;
  if (o.ret >= 0 && o.ret <= t) {
    if (o.outcome === 0) {
      cls = 'op-ok';
      res = o.kind === 'get' ? '= ' + (o.read === -1 ? '(absent)' : S[o.read]) : o.kind === 'cas' ? (o.cas ? 'swapped' : 'not swapped') : 'ok';
    } else { cls = 'op-fail'; res = 'refused'; }
    res += ` (${((o.ret - o.call) / 1000).toFixed(1)} ms)`;
  } else if (o.ret < 0 && t >= END) { cls = 'op-unknown'; res = 'timed out: outcome unknown'; }
  else { cls = 'op-pending'; res = '… waiting'; }
  return [cls, `c${o.client} ${what} → ${res}`];
}
function drawOps(t) {
  const upto = upperBound(OPS.length, (i) => OPS[i].call <= t);
  const from = Math.max(0, upto - 40);
  const items = [];
  for (let i = from; i < upto; i++) items.push(opText(OPS[i], t));
  const key = items.map((x) => x[1]).join('\n');
  if (key === opsShown) return;
  opsShown = key;
  opsList.innerHTML = '';
  for (const [cls, text] of items) {
    const li = document.createElement('li');
    li.className = cls; li.textContent = text; li.title = text;
    opsList.appendChild(li);
  }
  opsList.scrollTop = opsList.scrollHeight;
}

// ---- logs --------------------------------------------------------------------------------
const logsvg = $('logsvg');
const CELL = 24, ROWH = N > 5 ? 26 : 30, LABELW = 54;
let logPin = 0;  // 0: follow the newest entries; otherwise the first index shown
logsvg.addEventListener('wheel', (e) => {
  e.preventDefault();
  const cur = logPin || lastWindowStart;
  logPin = Math.max(1, cur + (e.deltaY > 0 || e.deltaX > 0 ? 3 : -3));
  render(true);
}, { passive: false });
logsvg.addEventListener('dblclick', () => { logPin = 0; render(true); });
let lastWindowStart = 1;
function drawLogs(s, conf) {
  const width = logsvg.clientWidth || 1200;
  const cells = Math.max(8, Math.floor((width - LABELW - 8) / CELL));
  let hi = 0;
  for (let i = 0; i < N; i++) hi = Math.max(hi, s.logLast[i]);
  const start = logPin || Math.max(1, hi - cells + 2);
  lastWindowStart = start;
  const height = 18 + N * ROWH;
  logsvg.setAttribute('height', height);
  logsvg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const parts = [];
  for (let j = 0; j < cells; j++) {
    const idx = start + j;
    if (idx % 5 === 0 || j === 0) parts.push(`<text x="${LABELW + j * CELL + CELL / 2}" y="12" text-anchor="middle" font-size="10" fill="#7b8794">${idx}</text>`);
  }
  for (let i = 0; i < N; i++) {
    const n = s.nodes[i], y = 18 + i * ROWH, role = n[F.role];
    const last = s.logLast[i], first = n[F.first] || 1, commit = n[F.commit], applied = n[F.applied];
    const durable = n[F.durable];
    parts.push(`<text x="4" y="${y + 16}" font-size="13" font-weight="700" fill="${ROLE_FILL[role]}">n${NODES[i]}</text>`);
    parts.push(`<text x="28" y="${y + 16}" font-size="10" fill="#7b8794">${role === 3 ? '★' : role === 4 ? '✕' : ''}</text>`);
    for (let j = 0; j < cells; j++) {
      const idx = start + j, x = LABELW + j * CELL;
      if (idx > last) {
        if (j === 0) parts.push(`<text x="${x + 4}" y="${y + 15}" font-size="11" fill="#9aa5b1">${last ? `log ends at ${last} (term ${termAt(i, last, s.cursor)}): ${start - last} entries behind this window` : 'empty log'}</text>`);
        break;
      }
      if (idx < first) {
        parts.push(`<rect x="${x}" y="${y}" width="${CELL - 2}" height="22" fill="url(#hatch)" stroke="#c3ccd5"><title>index ${idx}: in n${NODES[i]}'s snapshot (compacted)</title></rect>`);
        continue;
      }
      const term = termAt(i, idx, s.cursor);
      const committed = idx <= commit;
      const volatile = role !== 4 && idx > durable;
      const label = ENTRY.get(idx + '/' + term) || '';
      parts.push(`<rect x="${x}" y="${y}" width="${CELL - 2}" height="22" rx="2" fill="${termColor(term, !committed)}" stroke="${committed ? '#5f7388' : '#9aa5b1'}" stroke-dasharray="${volatile ? '2 2' : committed ? '' : '4 2'}"><title>index ${idx} · term ${term}${label ? ' · ' + label : ''}${committed ? ' · committed' : ' · not committed'}${volatile ? ' · not yet durable' : ''}</title></rect>`);
      parts.push(`<text x="${x + (CELL - 2) / 2}" y="${y + 15}" text-anchor="middle" font-size="11" fill="${committed ? '#1f2933' : '#66727f'}"${volatile ? ' font-style="italic"' : ''}>${term}</text>`);
    }
    if (applied >= start && applied < start + cells && role !== 4) {
      const x = LABELW + (applied - start) * CELL + (CELL - 2) / 2;
      parts.push(`<path d="M${x - 4} ${y + 28} L${x + 4} ${y + 28} L${x} ${y + 23} Z" fill="#1f2933"><title>applied ${applied}</title></path>`);
    }
    if (commit >= start && commit < start + cells) {
      const x = LABELW + (commit - start + 1) * CELL - 1;
      parts.push(`<line x1="${x}" y1="${y - 2}" x2="${x}" y2="${y + 24}" stroke="#15803d" stroke-width="2.5"><title>commit ${commit}</title></line>`);
    }
  }
  logsvg.innerHTML = '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef1f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c9d1d9" stroke-width="3"/></pattern></defs>' + parts.join('');
  $('logwin').textContent = `indexes ${start}–${start + cells - 1}` + (logPin ? ' (pinned: scroll to move, double-click to follow)' : ' (following the newest; scroll to move)');
}

// ---- timeline scrubber -------------------------------------------------------------------
const scrub = $('scrub');
let scrubCursor = null;
function drawScrub() {
  const width = scrub.clientWidth || 1200, h = 64;
  scrub.setAttribute('viewBox', `0 0 ${width} ${h}`);
  const x = (t) => (t / Math.max(1, END)) * (width - 2) + 1;
  const parts = [];
  // Who leads, over time: one band per node.
  const role = new Float64Array(N), term = new Float64Array(N), since = new Float64Array(N).fill(-1);
  const band = (i, t0, t1, tm) => parts.push(`<rect x="${x(t0)}" y="${4 + i * (26 / N)}" width="${Math.max(1, x(t1) - x(t0))}" height="${26 / N - 1}" fill="${termColor(tm)}" stroke="#15803d" stroke-width=".5"><title>n${NODES[i]} leads term ${tm}: ${shortTime(t0)}–${shortTime(t1)} s</title></rect>`);
  for (const rec of R) {
    if (rec.k !== 1) continue;
    for (const [f, v] of rec.v) {
      if (f === F.term) term[rec.slot] = v;
      if (f !== F.role) continue;
      if (role[rec.slot] === 3 && v !== 3 && since[rec.slot] >= 0) { band(rec.slot, since[rec.slot], rec.t, term[rec.slot]); since[rec.slot] = -1; }
      if (v === 3 && role[rec.slot] !== 3) since[rec.slot] = rec.t;
      role[rec.slot] = v;
    }
  }
  for (let i = 0; i < N; i++) if (since[i] >= 0) band(i, since[i], END, term[i]);
  for (let i = 0; i < N; i++) parts.push(`<text x="2" y="${4 + (i + 1) * (26 / N) - 1}" font-size="${Math.min(9, 26 / N)}" fill="#9aa5b1">n${NODES[i]}</text>`);
  // Faults, elections, membership, violations.
  for (const e of STORY) {
    const color = { fault: '#dc2626', elect: '#ea580c', leader: '#15803d', member: '#0f766e', snap: '#7c3aed', phase: '#5b21b6', viol: '#b91c1c' }[e.cls];
    if (!color) continue;
    const y0 = e.cls === 'fault' ? 33 : e.cls === 'viol' ? 30 : 44;
    parts.push(`<line x1="${x(e.t)}" x2="${x(e.t)}" y1="${y0}" y2="${e.cls === 'viol' ? 64 : y0 + 9}" stroke="${color}" stroke-width="${e.cls === 'viol' ? 3 : 1}"><title>${shortTime(e.t)} s ${e.text.replace(/</g, '&lt;')}</title></line>`);
  }
  // Client operations: acknowledged (green) and not (amber), as a density strip.
  for (const o of OPS) parts.push(`<rect x="${x(o.call)}" y="56" width="1.2" height="6" fill="${o.outcome === 0 ? '#86c59a' : '#f1b36b'}"/>`);
  parts.push(`<text x="${width - 4}" y="40" text-anchor="end" font-size="9" fill="#9aa5b1">faults · elections/membership · client ops</text>`);
  parts.push('<line id="cursor" x1="0" x2="0" y1="0" y2="64" stroke="#1f2933" stroke-width="2"/>');
  scrub.innerHTML = parts.join('');
  scrubCursor = scrub.querySelector('#cursor');
  scrub._x = x; scrub._w = width;
}
function seekFromScrub(e) {
  const r = scrub.getBoundingClientRect();
  seek(((e.clientX - r.left) / r.width) * END);
}
let dragging = false;
scrub.addEventListener('mousedown', (e) => { dragging = true; pause(); seekFromScrub(e); });
window.addEventListener('mousemove', (e) => { if (dragging) seekFromScrub(e); });
window.addEventListener('mouseup', () => { dragging = false; });

// ---- playback ----------------------------------------------------------------------------
let T = 0, playing = false, lastFrame = 0;
const speedEl = $('speed');
function speed() { return Math.pow(10, 2 + (speedEl.value / 100) * 5); }  // virtual µs per second: 100 µs .. 10 s
function drawSpeed() {
  const v = speed();
  $('speedtxt').textContent = v >= 1e6 ? `${(v / 1e6).toFixed(v >= 1e7 ? 0 : 1)} s per second` : `${(v / 1000).toFixed(v < 1000 ? 2 : v < 1e4 ? 1 : 0)} ms per second`;
}
speedEl.addEventListener('input', drawSpeed);
function seek(t) {
  T = Math.max(0, Math.min(END, t));
  render(true);
}
function play() { if (T >= END) T = 0; playing = true; lastFrame = performance.now(); $('play').textContent = '⏸'; requestAnimationFrame(frame); }
function pause() { playing = false; $('play').textContent = '▶'; }
function frame(now) {
  if (!playing) return;
  const dt = Math.min(0.25, (now - lastFrame) / 1000);
  lastFrame = now;
  T = Math.min(END, T + dt * speed());
  render(false);
  if (T >= END) { pause(); return; }
  requestAnimationFrame(frame);
}
// The next/previous moment anything happens: a change, a send, an arrival.
function nextEvent(t) {
  let best = END;
  const r = upperBound(R.length, (i) => R[i].t <= t);
  if (r < R.length) best = Math.min(best, R[r].t);
  const m = upperBound(M.n, (i) => M.sent[i] <= t);
  if (m < M.n) best = Math.min(best, M.sent[m]);
  const lo = upperBound(M.n, (i) => M.sent[i] < t - M.maxFlight);
  for (let i = lo; i < M.n && M.sent[i] <= t; i++) if (!droppedAtSend(i) && M.arrive[i] > t) best = Math.min(best, M.arrive[i]);
  for (const i of M.delayed) if (M.sent[i] <= t && M.arrive[i] > t) best = Math.min(best, M.arrive[i]);
  return best;
}
function prevEvent(t) {
  let best = 0;
  const r = upperBound(R.length, (i) => R[i].t < t);
  if (r > 0) best = Math.max(best, R[r - 1].t);
  const m = upperBound(M.n, (i) => M.sent[i] < t);
  if (m > 0) best = Math.max(best, M.sent[m - 1]);
  const lo = upperBound(M.n, (i) => M.sent[i] < t - M.maxFlight);
  for (let i = lo; i < m; i++) if (!droppedAtSend(i) && M.arrive[i] < t) best = Math.max(best, M.arrive[i]);
  return best;
}
function nextStory(t, dir) {
  if (dir > 0) { const i = upperBound(STORY.length, (j) => STORY[j].t <= t); return i < STORY.length ? STORY[i].t : END; }
  const i = upperBound(STORY.length, (j) => STORY[j].t < t);
  return i > 0 ? STORY[i - 1].t : 0;
}
function render(full) {
  moveTo(T);
  const conf = confOf(st);
  const hl = drawProps(st);
  drawRing(T, st, conf);
  for (let i = 0; i < N; i++) NODE_G[i].halo.setAttribute('visibility', hl.has(NODES[i]) ? 'visible' : 'hidden');
  const inflight = drawMessages(T);
  drawTable(st, hl);
  drawLogs(st, conf);
  drawStory(T);
  drawOps(T);
  if (scrubCursor) { const x = scrub._x(T); scrubCursor.setAttribute('x1', x); scrubCursor.setAttribute('x2', x); }
  $('clock').textContent = `${fmtTime(T)} / ${fmtTime(END)} · ${inflight} in flight`;
  if (document.activeElement !== $('time')) $('time').value = (T / 1e6).toFixed(6);
}

$('play').onclick = () => (playing ? pause() : play());
$('step').onclick = () => { pause(); seek(nextEvent(T)); };
$('back').onclick = () => { pause(); seek(prevEvent(T)); };
$('next').onclick = () => { pause(); seek(nextStory(T, 1)); };
$('prev').onclick = () => { pause(); seek(nextStory(T, -1)); };
$('go').onclick = () => { pause(); seek(parseFloat($('time').value) * 1e6 || 0); };
$('time').addEventListener('keydown', (e) => { if (e.key === 'Enter') $('go').onclick(); });
$('toviol').onclick = () => { pause(); if (VIOLATIONS.length) seek(VIOLATIONS[0].t); };
document.addEventListener('keydown', (e) => {
  if (e.target.tagName === 'INPUT' && e.target.type === 'text') return;
  if (e.key === ' ') { e.preventDefault(); $('play').onclick(); }
  else if (e.key === 'ArrowRight') { e.preventDefault(); (e.shiftKey ? $('next') : $('step')).onclick(); }
  else if (e.key === 'ArrowLeft') { e.preventDefault(); (e.shiftKey ? $('prev') : $('back')).onclick(); }
  else if (e.key === 'v') $('toviol').onclick();
});
window.addEventListener('resize', () => { drawScrub(); render(true); });

// ---- header, legend, start ---------------------------------------------------------------
$('title').textContent = D.title;
$('question').textContent = D.question || D.command;
if (D.question && D.command) $('question').title = D.command;
const outcome = $('outcome');
const failed = VIOLATIONS.length > 0;
outcome.className = 'outcome ' + (failed ? 'fail' : 'ok');
outcome.textContent = failed ? '✕ ' + propertyOf(VIOLATIONS[0].text) + ' violated' : '✓ ' + (D.outcome || 'ok');
outcome.title = D.outcome;
if (D.watch) $('watch').innerHTML = '<b>Watch for:</b> ' + D.watch.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'));
$('toviol').hidden = !failed;
const legend = $('legend');
const sample = (color, filled, extra) => `<svg width="14" height="14"><circle cx="7" cy="7" r="5" fill="${filled ? color : '#fff'}" stroke="${color}" stroke-width="1.5"/>${extra || ''}</svg>`;
legend.innerHTML = [
  [sample('#2563eb', true), 'append'], [sample('#94a3b8', true), 'heartbeat'], [sample('#ea580c', true), 'vote'],
  [sample('#d4a106', true), 'pre-vote'], [sample('#7c3aed', true), 'snapshot'], [sample('#0d9488', true), 'read index'],
  [sample('#dc2626', true), 'timeout-now'], [sample('#2563eb', false), 'reply (hollow)'],
  [sample('#15803d', false), 'granted'], [sample('#dc2626', false), 'rejected'],
  ['<svg width="14" height="14"><text x="7" y="12" text-anchor="middle" font-size="13" fill="#dc2626" font-weight="700">✕</text></svg>', 'lost'],
  ['<svg width="18" height="18"><circle cx="9" cy="9" r="7" fill="none" stroke="#7c3aed" stroke-dasharray="3 2"/></svg>', 'long delay'],
].map(([s, t]) => `<span>${s} ${t}</span>`).join('');
drawSpeed();
drawScrub();
// #t=<seconds> in the address opens the replay at that moment; #violation at the first one.
const hash = location.hash.slice(1);
if (hash === 'violation' && failed) T = VIOLATIONS[0].t;
else if (hash.startsWith('t=')) T = parseFloat(hash.slice(2)) * 1e6 || 0;
render(true);
// For tests and the console: the player's state at the current time.
window.replay = {
  seek: (seconds) => { pause(); seek(seconds * 1e6); },
  toViolation: () => $('toviol').onclick(),
  state: () => ({
    time: T, end: END, messages: M.n, records: R.length, keyframes: KEYFRAMES.length, violations: st.violations.map((v) => v.text),
    nodes: NODES.map((id, i) => ({ id, role: st.nodes[i][F.role] === 4 ? 'down' : ROLES[st.nodes[i][F.role]],
      term: st.nodes[i][F.term], commit: st.nodes[i][F.commit], last: st.logLast[i] })),
  }),
};
})();
