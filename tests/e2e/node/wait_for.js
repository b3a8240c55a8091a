// Polls pred() every 20 ms until it is true; rejects after ms with `what` (a string or a
// function giving one, so the message can show the state at the time of the timeout).
'use strict';

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

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

module.exports = { waitFor, sleep };
