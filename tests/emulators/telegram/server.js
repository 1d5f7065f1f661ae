// Test-only wrapper around the third-party Telegram Bot API emulator (npm telegram-test-api).
// Usage: node server.js <port>   -> prints "listening <port>" once ready.
// It adds what aiogram needs and the emulator lacks:
//  - getMe answers first with `is_bot` (aiogram refuses a User without it) and an id taken from
//    the token, as Telegram does;
//  - webhook deliveries carry the secret token header, as Telegram sends it;
//  - a webhook that answers 4xx/5xx is logged instead of crashing node (the emulator does not
//    await its delivery promise);
//  - POST /_emulator/update injects a raw update for one bot (malformed payloads, redeliveries,
//    media), delivered by getUpdates or the webhook like any other.
'use strict';
const http = require('http');
const express = require('express');
const axios = require('axios');
const TelegramServer = require('telegram-test-api');

const port = Number(process.argv[2] || 9000);
const emulator = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 600 });
const secrets = {};

const originalSetWebhook = emulator.setWebhook.bind(emulator);
emulator.setWebhook = (webhook, botToken) => {
  secrets[webhook.url] = webhook.secret_token;
  originalSetWebhook(webhook, botToken);
};
axios.interceptors.request.use((config) => {
  const secret = secrets[config.url];
  if (secret) {
    config.headers = Object.assign({}, config.headers, { 'X-Telegram-Bot-Api-Secret-Token': secret });
  }
  return config;
});

// The emulator reads the next update and message ids before a webhook delivery and bumps them
// after it (and not at all when it fails): concurrent or failed deliveries would repeat ids.
// Deliver one user message at a time, and count a failed delivery as used.
const originalAddUserUpdate = emulator.addUserUpdate.bind(emulator);
emulator.addUserUpdate = async (update) => {
  try {
    await originalAddUserUpdate(update);
  } catch (err) {
    emulator.updateId++;
    console.error(`emulator: webhook delivery failed: ${err && err.message}`);
  }
};
let deliveries = Promise.resolve();
const originalAddUserMessage = emulator.addUserMessage.bind(emulator);
emulator.addUserMessage = (message) => {
  deliveries = deliveries.then(() => originalAddUserMessage(message));
  return deliveries;
};
process.on('unhandledRejection', (err) => {
  console.error(`emulator: ${err && err.message}`);
});

const app = express();
app.all('/bot:token/getMe', (req, res) => {
  const id = Number(String(req.params.token).split(':')[0]) || 666;
  res.json({ ok: true, result: { id, is_bot: true, first_name: 'RustyClaw Test', username: 'RustyTestBot' } });
});
app.post('/_emulator/update', express.json(), (req, res) => {
  const { botToken, update } = req.body;
  const stored = {
    time: Date.now(), botToken, updateId: update.update_id, messageId: 0, isRead: false, raw: update,
  };
  const webhook = emulator.webhooks[botToken];
  if (webhook) {
    axios.post(webhook.url, update, { validateStatus: () => true })
      .then((r) => res.json({ ok: true, status: r.status, body: r.data }))
      .catch((e) => res.status(502).json({ ok: false, error: e.message }));
    return;
  }
  emulator.storage.userMessages.push(stored);
  res.json({ ok: true });
});
// Raw updates stored above are returned verbatim by getUpdates.
const originalFormat = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (update) => (update.raw ? update.raw : originalFormat(update));
app.use(emulator.webServer);

http.createServer(app).listen(port, '127.0.0.1', () => {
  console.log(`listening ${port}`);
});
