// raftkv /ui: polls /debug/raft (the cluster view any member serves) every second and draws
// the members, the leader's replication, the events and a timeline. Plain JS and SVG.
'use strict';
(function () {
const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const num = (v) => Number(v || 0);  // 64-bit numbers arrive as JSON strings
let windowChoice = 0;  // 0: fit what the members remember (20 s .. 5 min)
let windowS = 300;
let last = null, lastOk = 0, names = new Map();

function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]); }
function nameOf(id) { return names.get(id) || id || '–'; }
// Member ids in event texts become names.
function withNames(text) { return text.replace(/\b[0-9a-f]{6,16}\b/g, (id) => names.get(id) || id); }
function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}
function ms(v) { return v >= 1000 ? (v / 1000).toFixed(1) + ' s' : v >= 100 ? v.toFixed(0) + ' ms' : v >= 10 ? v.toFixed(1) + ' ms' : v.toFixed(2) + ' ms'; }

async function poll() {
  try {
    const r = await fetch('/debug/raft', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    last = await r.json();
    lastOk = Date.now();
    $('banner').hidden = true;
    draw(last);
  } catch (e) {
    $('banner').hidden = false;
    $('banner').textContent = 'This member does not answer /debug/raft (' + e.message + '): showing the last view. Try another member\'s metrics URL.';
  }
  setTimeout(poll, POLL_MS);
}
setInterval(() => {
  const age = lastOk ? (Date.now() - lastOk) / 1000 : Infinity;
  const f = $('fresh');
  f.textContent = lastOk ? `updated ${age.toFixed(1)} s ago` : '';
  f.classList.toggle('stale', age > 3);
}, 250);

function draw(c) {
  names = new Map(c.members.map((m) => [m.id, m.name || m.id]));
  const up = c.members.filter((m) => m.up).length;
  $('summary').innerHTML = c.leader
    ? `leader <b id="leader" data-id="${esc(c.leader)}">${esc(nameOf(c.leader))}</b> · term <b id="term">${num(c.term)}</b> · ${up}/${c.members.length} members up · cluster ${esc(c.cluster_id)} · this page from ${esc(nameOf(c.served_by))}`
    : `<span id="leader" data-id="">no leader</span> · term <span id="term">${num(c.term)}</span> · ${up}/${c.members.length} members up · cluster ${esc(c.cluster_id)}`;
  drawMembers(c);
  drawReplication(c);
  drawEvents(c);
  drawTimeline(c);
}

// Member cards fill rows of equal length: 7 members on a screen that fits 5 cards a row are
// drawn 4 + 3, not 5 + 2.
const CARD_MIN_PX = 262, CARD_GAP_PX = 10;
function layoutMembers(n) {
  const box = $('members');
  const fit = Math.max(1, Math.floor((box.clientWidth + CARD_GAP_PX) / (CARD_MIN_PX + CARD_GAP_PX)));
  const rows = Math.ceil(n / fit);
  box.style.setProperty('--cols', String(Math.max(1, Math.ceil(n / rows))));
}
const byName = (a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id), undefined, { numeric: true });

function drawMembers(c) {
  const box = $('members');
  layoutMembers(c.members.length);
  box.innerHTML = [...c.members].sort(byName).map((m) => {
    const role = !m.up ? 'down' : m.role;
    const f = m.wal_fsync || {};
    const body = m.up ? `
      <dl class="kv">
        <dt>term</dt><dd class="v-term">${num(m.term)}</dd><dt>vote</dt><dd>${esc(nameOf(m.vote))}</dd>
        <dt>leader</dt><dd>${esc(nameOf(m.leader))}</dd><dt>snapshot</dt><dd>${num(m.snapshot_index)}</dd>
        <dt>last</dt><dd>${num(m.last_index)}</dd><dt>commit</dt><dd class="v-commit">${num(m.commit_index)}</dd>
        <dt>applied</dt><dd>${num(m.applied_index)}</dd><dt>log from</dt><dd>${num(m.first_index)}</dd>
        <dt title="WAL fsync latency, 99th percentile">fsync</dt><dd title="WAL fsync p99: ${num(f.count)} syncs, mean ${ms(f.mean_ms || 0)}, p50 ≤ ${ms(f.p50_ms || 0)}">≤ ${ms(f.p99_ms || 0)}</dd><dt>answered</dt><dd>${ms(m.answer_ms || 0)}</dd>
      </dl>` : `<div class="err">DOWN: ${esc(m.error || 'no answer')}</div>`;
    return `<div class="member ${role}" data-name="${esc(m.name)}" data-id="${esc(m.id)}" data-up="${m.up}" data-role="${esc(role)}" data-term="${num(m.term)}">
      <div class="head"><span class="name">${esc(m.name || m.id)}</span><span class="role ${role}">${esc(role)}</span>${m.is_learner ? '<span class="role learner">learner</span>' : ''}<span class="id">${esc(m.id)}</span></div>
      ${body}
      <div class="url" title="client ${esc((m.client_urls || []).join(', '))}">client ${esc((m.client_urls || []).join(', '))}</div>
      <div class="url" title="peer ${esc((m.peer_urls || []).join(', '))}">peer ${esc((m.peer_urls || []).join(', '))}</div>
    </div>`;
  }).join('');
}

function drawReplication(c) {
  const leader = c.members.find((m) => m.up && m.id === c.leader);
  const tb = $('replication').querySelector('tbody');
  if (!leader) {
    $('repl-who').textContent = '(no leader: nobody replicates)';
    tb.innerHTML = '';
    return;
  }
  $('repl-who').textContent = `(as the leader ${nameOf(leader.id)} sees its followers; its last index ${num(leader.last_index)})`;
  const followers = (leader.followers || []).map((f) => ({ ...f, name: nameOf(f.id) })).sort(byName);
  tb.innerHTML = followers.map((f) => {
    const behind = Math.max(0, num(leader.last_index) - num(f.match));
    const contact = num(f.last_contact_ms);
    const late = contact < 0 || contact > 1000;
    return `<tr data-follower="${esc(nameOf(f.id))}"><td>${esc(nameOf(f.id))}${f.is_learner ? ' (learner)' : ''}</td>
      <td><span class="state ${esc(f.state)}">${esc(f.state)}</span>${f.state === 'snapshot' ? ' @' + num(f.pending_snapshot) : ''}</td>
      <td>${num(f.match)}</td><td>${num(f.next)}</td>
      <td>${behind}<span class="bar" style="width:${Math.min(80, Math.log2(1 + behind) * 8)}px"></span></td>
      <td>${num(f.inflight)} / ${num(f.inflight_capacity)}</td>
      <td class="${late ? 'late' : ''}">${contact < 0 ? 'never' : contact < 1000 ? contact + ' ms ago' : (contact / 1000).toFixed(1) + ' s ago'}</td></tr>`;
  }).join('');
}

function drawEvents(c) {
  const all = [];
  for (const m of c.members) for (const e of m.events || []) all.push(e);
  all.sort((a, b) => num(b.time_ms) - num(a.time_ms));
  $('events').innerHTML = all.slice(0, 150).map((e) =>
    `<li class="k-${esc(e.kind)}" title="${esc(withNames(e.text))}"><span class="t">${clock(num(e.time_ms))}</span><span class="who">${esc(nameOf(e.member))}</span>${esc(withNames(e.text))}</li>`).join('');
}

// ---- timeline: leader/term band, event marks, proposals and reads per second, p99 ------------
const SVGW = () => $('timeline').clientWidth || 1200;
function drawTimeline(c) {
  const svg = $('timeline');
  const W = SVGW(), H = 250, L = 46, R = 54, top = 6;
  const now = num(c.time_ms) / 1000;
  let oldest = now;
  for (const m of c.members) for (const s of m.samples || []) oldest = Math.min(oldest, num(s.time_s));
  windowS = windowChoice || Math.max(20, Math.min(300, Math.ceil(now - oldest + 1)));
  const t0 = now - windowS;
  const x = (t) => L + ((t - t0) / windowS) * (W - L - R);
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const parts = [];
  // Per second, summed over members: proposals and reads; the worst member's p99.
  const bySec = new Map();
  const termBySec = new Map();
  for (const m of c.members) {
    for (const s of m.samples || []) {
      const t = num(s.time_s);
      if (t < t0 - 1) continue;
      const b = bySec.get(t) || { p: 0, r: 0, p99: 0 };
      b.p += num(s.proposals); b.r += num(s.reads); b.p99 = Math.max(b.p99, num(s.commit_p99_ms));
      bySec.set(t, b);
      const tl = termBySec.get(t);
      if (!tl || num(s.term) > tl.term || (num(s.term) === tl.term && s.leader && !tl.leader)) termBySec.set(t, { term: num(s.term), leader: s.leader });
    }
  }
  // Leader and term band.
  const bandY = top, bandH = 22;
  parts.push(`<text x="4" y="${bandY + 15}" font-size="11" fill="#66727f">leader</text>`);
  const secs = [...termBySec.keys()].sort((a, b) => a - b);
  let segStart = null, seg = null;
  const flush = (end) => {
    if (!seg) return;
    const color = seg.leader ? `hsl(${(seg.term * 67 + 200) % 360},55%,78%)` : '#fecaca';
    const x0 = Math.max(L, x(segStart)), x1 = Math.min(W - R, x(end));
    if (x1 > x0) {
      parts.push(`<rect x="${x0}" y="${bandY}" width="${x1 - x0}" height="${bandH}" fill="${color}" stroke="#fff"><title>term ${seg.term}, leader ${esc(nameOf(seg.leader))}</title></rect>`);
      const label = `${seg.leader ? nameOf(seg.leader) : 'no leader'} · term ${seg.term}`;
      if (x1 - x0 > label.length * 6.5 + 8) parts.push(`<text x="${x0 + 4}" y="${bandY + 15}" font-size="11" fill="#1f2933">${esc(label)}</text>`);
    }
  };
  for (const t of secs) {
    const v = termBySec.get(t);
    if (!seg || v.term !== seg.term || v.leader !== seg.leader) { flush(t); seg = v; segStart = t; }
  }
  flush(now);
  // Event marks.
  const evY = bandY + bandH + 4, evH = 18;
  parts.push(`<text x="4" y="${evY + 13}" font-size="11" fill="#66727f">events</text>`);
  const colors = { 'pre-vote': '#eab308', vote: '#ea580c', role: '#15803d', member: '#1d4ed8', 'snapshot-sent': '#7c3aed', 'snapshot-received': '#7c3aed', 'snapshot-taken': '#a78bfa' };
  for (const m of c.members) for (const e of m.events || []) {
    const t = num(e.time_ms) / 1000;
    if (t < t0 || !colors[e.kind]) continue;
    parts.push(`<rect x="${x(t) - 1.5}" y="${evY}" width="3" height="${evH}" fill="${colors[e.kind]}"><title>${esc(clock(num(e.time_ms)))} ${esc(nameOf(e.member))}: ${esc(withNames(e.text))}</title></rect>`);
  }
  // Rates and latency.
  const chY = evY + evH + 10, chH = H - chY - 22;
  const pts = [...bySec.entries()].sort((a, b) => a[0] - b[0]);
  const maxRate = Math.max(10, ...pts.map(([, b]) => Math.max(b.p, b.r)));
  const maxLat = Math.max(1, ...pts.map(([, b]) => b.p99));
  const yr = (v) => chY + chH - (v / maxRate) * chH, yl = (v) => chY + chH - (v / maxLat) * chH;
  parts.push(`<rect x="${L}" y="${chY}" width="${W - L - R}" height="${chH}" fill="#fafbfc" stroke="#e5e9ee"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = (maxRate * k) / 4, y = yr(v);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eef1f4"/><text x="${L - 4}" y="${y + 4}" font-size="10" text-anchor="end" fill="#2563eb">${v.toFixed(0)}</text>`);
    parts.push(`<text x="${W - R + 4}" y="${yl((maxLat * k) / 4) + 4}" font-size="10" fill="#b91c1c">${((maxLat * k) / 4).toFixed(maxLat < 4 ? 2 : 0)}</text>`);
  }
  const line = (f, color, width, dash) => {
    const d = pts.filter(([t]) => t >= t0).map(([t, b], i) => `${i ? 'L' : 'M'}${x(t + 0.5).toFixed(1)} ${f(b).toFixed(1)}`).join(' ');
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${width}" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`);
  };
  line((b) => yr(b.p), '#2563eb', 1.8);
  line((b) => yr(b.r), '#0d9488', 1.5, '4 2');
  line((b) => yl(b.p99), '#dc2626', 1.5);
  for (let k = 0; k <= 5; k++) {
    const t = t0 + (windowS * k) / 5;
    parts.push(`<text x="${x(t)}" y="${H - 6}" font-size="10" text-anchor="middle" fill="#7b8794">${k === 5 ? 'now' : '−' + Math.round(now - t) + ' s'}</text>`);
  }
  parts.push(`<text x="${L + 6}" y="${chY + 13}" font-size="11"><tspan fill="#2563eb">━ proposals/s</tspan>  <tspan fill="#0d9488">┅ reads/s</tspan>  <tspan fill="#dc2626">━ p99 proposal→applied (ms, right axis)</tspan></text>`);
  svg.innerHTML = parts.join('');
  $('tl-range').textContent = `(last ${windowS >= 60 ? (windowS / 60).toFixed(windowS % 60 ? 1 : 0) + ' min' : windowS + ' s'}; one sample per second from every member)`;
}
document.querySelectorAll('.range button').forEach((b) => b.addEventListener('click', () => {
  windowChoice = Number(b.dataset.win);
  document.querySelectorAll('.range button').forEach((o) => o.classList.toggle('on', o === b));
  if (last) drawTimeline(last);
}));
window.addEventListener('resize', () => {
  if (!last) return;
  layoutMembers(last.members.length);
  drawTimeline(last);
});
poll();
})();
