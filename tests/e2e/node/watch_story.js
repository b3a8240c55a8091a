// The Node.js etcd3 client's watch() against a cluster, as its users write it. Prints one
// JSON object with what the watchers saw; tests/e2e/test_watch.py checks it.
//
//   node watch_story.js <endpoint,endpoint,...> <key prefix>
//
// Story: a key watcher (prev_kv) and a prefix watcher that starts at an older revision
// (history replayed, then live), a delete-only watcher (the NOPUT filter, as the client's
// election uses), then cancel: writes after cancel() are not delivered.
'use strict';

const { Etcd3 } = require('etcd3');

const [endpoints, prefix] = process.argv.slice(2);
const client = new Etcd3({ hosts: endpoints.split(',') });

function waitFor(pred, what, ms = 10000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - started > ms) {
        return reject(new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`));
      }
      setTimeout(tick, 20);
    };
    tick();
  });
}

async function main() {
  const out = {};
  const first = await client.put(`${prefix}old`).value('before').exec();
  const startRev = Number(first.header.revision);

  const keyEvents = [];
  const keyWatcher = await client.watch().key(`${prefix}a`).withPreviousKV().create();
  keyWatcher.on('put', (kv, prev) =>
    keyEvents.push({ type: 'put', value: kv.value.toString(), prev: prev ? prev.value.toString() : null,
                     mod: Number(kv.mod_revision) }));
  keyWatcher.on('delete', (kv, prev) =>
    keyEvents.push({ type: 'delete', prev: prev ? prev.value.toString() : null, mod: Number(kv.mod_revision) }));

  const prefixEvents = [];
  const prefixWatcher = await client.watch().prefix(prefix).startRevision(String(startRev)).create();
  prefixWatcher.on('data', res =>
    res.events.forEach(ev => prefixEvents.push({ type: ev.type, key: ev.kv.key.toString(),
                                                 mod: Number(ev.kv.mod_revision) })));

  const deletes = [];
  // only('delete') sends the NOPUT filter (in this client ignore() is only()'s alias).
  const deleteWatcher = await client.watch().prefix(prefix).only('delete').create();
  deleteWatcher.on('delete', kv => deletes.push(kv.key.toString()));

  await client.put(`${prefix}a`).value('1').exec();
  await client.put(`${prefix}a`).value('2').exec();
  await client.put(`${prefix}b`).value('x').exec();
  await client.delete().key(`${prefix}a`).exec();
  await waitFor(() => keyEvents.length >= 3 && prefixEvents.length >= 5 && deletes.length >= 1,
                () => `events (got ${JSON.stringify({ keyEvents, prefixEvents, deletes })})`);

  await keyWatcher.cancel();
  await client.put(`${prefix}a`).value('after-cancel').exec();
  await waitFor(() => prefixEvents.length >= 6, 'the event after cancel on the prefix watcher');
  out.keyEvents = keyEvents;
  out.prefixEvents = prefixEvents;
  out.deletes = deletes;
  out.startRev = startRev;
  out.lastRevision = Number(prefixWatcher.lastRevision());
  await prefixWatcher.cancel();
  await deleteWatcher.cancel();
  console.log(JSON.stringify(out));
}

main()
  .then(() => client.close())
  .catch(err => {
    console.error(`watch story failed: ${err.stack || err}`);
    client.close();
    process.exit(1);
  });
