// The Node.js etcd3 client's lock() and election() against a cluster, as its users write
// them. Prints one JSON object with what happened; tests/e2e/test_recipes.py checks it.
//
//   node recipes_story.js <endpoint,endpoint,...> <name prefix>
//
// Lock story: acquire; a second acquire while held fails at once (this client's lock does
// not wait: one txn, create revision == 0); after release it succeeds; lock().do().
// Election story: three campaigners on their own clients and an observer on a fourth. `a` is
// elected; `b` and `c` wait (each watches the delete of the candidate before it); `a`
// resigns -> `b` is elected; `b`'s lease is revoked by someone else (as if it expired) ->
// `c` is elected and `b` learns it lost its lease. The observer sees a, b, c in turn.
'use strict';

const { Etcd3 } = require('etcd3');
const { waitFor, sleep } = require('./wait_for');

const [endpoints, prefix] = process.argv.slice(2);
const clients = [];
function newClient() {
  const c = new Etcd3({ hosts: endpoints.split(',') });
  clients.push(c);
  return c;
}

async function lockStory(client) {
  const out = {};
  const name = `${prefix}-lock`;
  const first = client.lock(name).ttl(10);
  await first.acquire();
  out.first = 'acquired';
  try {
    await client.lock(name).ttl(10).acquire();
    out.whileHeld = 'acquired';
  } catch (err) {
    out.whileHeld = err.constructor.name;
  }
  await first.release();
  const again = client.lock(name).ttl(10);
  await again.acquire();
  out.afterRelease = 'acquired';
  await again.release();
  out.doResult = await client.lock(name).ttl(10).do(async () => 'done');
  return out;
}

async function electionStory() {
  const out = { electedOrder: [], observed: [], errors: {} };
  const name = `${prefix}-election`;
  const observerClient = newClient();
  const observer = await observerClient.election(name, 5).observe();
  observer.on('change', leader => { if (leader !== undefined) out.observed.push(leader); });
  observer.on('error', err => { out.observerError = String(err); });
  if (observer.leader() !== undefined) out.observed.push(observer.leader());

  const campaigns = {};
  const campaign = value => {
    const c = newClient().election(name, 5).campaign(value);
    c.on('elected', () => out.electedOrder.push(value));
    c.on('error', err => { out.errors[value] = `${err.constructor.name}: ${err.message}`; });
    campaigns[value] = c;
    return c;
  };
  await campaign('a').wait();
  out.initialLeader = await observerClient.election(name).leader();
  // Candidates queue in the order their keys are created: b's first, then c's.
  const keys = () => observerClient.getAll().prefix(`election/${name}/`).keys();
  const waitForKeys = async n => {
    for (const started = Date.now(); (await keys()).length < n; await sleep(50)) {
      if (Date.now() - started > 10000) throw new Error(`timed out waiting for ${n} candidate keys`);
    }
  };
  campaign('b');
  await waitForKeys(2);
  campaign('c');
  await waitForKeys(3);
  // Give them time to (wrongly) think they lead.
  await sleep(1000);
  out.waitingBeforeResign = ['b', 'c'].filter(v => !out.electedOrder.includes(v));

  await campaigns.a.resign();
  await waitFor(() => out.electedOrder.includes('b'), () => `b elected (${JSON.stringify(out)})`);
  out.leaderAfterResign = await observerClient.election(name).leader();
  // The observer's watch may lag the campaigns: revoking b's lease before it saw b lead
  // could fold b's term and its end into one watch response, and b is never observed.
  await waitFor(() => out.observed.includes('b'), () => `b observed (${JSON.stringify(out)})`);

  // Revoke b's lease behind its back, as an expiry would: c takes over, b is told.
  const bLease = await campaigns.b.lease.grant();
  await observerClient.leaseClient.leaseRevoke({ ID: bLease });
  await waitFor(() => out.electedOrder.includes('c'), () => `c elected (${JSON.stringify(out)})`);
  out.leaderAfterRevoke = await observerClient.election(name).leader();
  await waitFor(() => out.observed.length >= 3, () => `three leaders observed (${JSON.stringify(out)})`);
  // b's keep-alive answers TTL 0 within a third of its TTL: its campaign reports the loss.
  await waitFor(() => out.errors.b !== undefined, 'b to learn its lease is gone', 10000);
  await campaigns.c.resign();
  await observer.cancel();
  return out;
}

async function main() {
  const out = {};
  out.lock = await lockStory(newClient());
  out.election = await electionStory();
  console.log(JSON.stringify(out));
}

main()
  .then(() => clients.forEach(c => c.close()))
  .catch(err => {
    console.error(`recipes story failed: ${err.stack || err}`);
    clients.forEach(c => c.close());
    process.exit(1);
  });
