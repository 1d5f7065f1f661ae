// Test-only wrapper around the third-party Telegram Bot API emulator (npm telegram-test-api).
// Usage: node server.js <port>   -> prints "listening <port>" once ready.
// It adds what aiogram needs and the emulator lacks:
//  - getMe answers first with `is_bot` (aiogram refuses a User without it) and an id taken from
//    the token, as Telegram does;
//  - webhook deliveries carry the secret token header, as Telegram sends it;
//  - a webhook that answers 4xx/5xx is logged instead of crashing node (the emulator does not
//    await its delivery promise);
//  - POST /_emulator/update injects a raw update for one bot (malformed payloads, redeliveries,
//    media), delivered by getUpdates or the webhook like any other;
//  - files: POST /_emulator/file {botToken, fileId, data (base64)} registers a file a user "sent";
//    getFile answers its file_path and GET /file/bot<token>/<file_path> serves its bytes;
//  - sendVoice (multipart, as bots upload voice notes) records the voice bytes, read back with
//    GET /_emulator/voices?botToken=...&chatId=... (base64, each read once).
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
// -- files and voice notes ---------------------------------------------------------------------
const files = {}; // `${token}|${file_id}` -> {path, data}
const voices = {}; // `${token}|${chat_id}` -> [{...fields, data (base64)}]
let nextBotMessageId = 900000;

app.post('/_emulator/file', express.json({ limit: '50mb' }), (req, res) => {
  const { botToken, fileId, data } = req.body;
  const bytes = Buffer.from(String(data || ''), 'base64');
  const path = `voice/${encodeURIComponent(fileId)}.oga`;
  files[`${botToken}|${fileId}`] = { path, data: bytes };
  res.json({ ok: true, file_path: path, file_size: bytes.length });
});
app.all('/bot:token/getFile', express.json(), express.urlencoded({ extended: true }), (req, res) => {
  const fileId = (req.body && req.body.file_id) || req.query.file_id;
  const file = files[`${req.params.token}|${fileId}`];
  if (!file) {
    res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
    return;
  }
  res.json({ ok: true, result: { file_id: fileId, file_unique_id: `u${fileId}`, file_size: file.data.length,
    file_path: file.path } });
});
app.get('/file/bot:token/*', (req, res) => {
  const path = req.params[0];
  const found = Object.entries(files).find(([key, f]) => key.startsWith(`${req.params.token}|`) && f.path === path);
  if (!found) {
    res.status(404).json({ ok: false, error_code: 404, description: 'Not Found' });
    return;
  }
  res.type('application/octet-stream').send(found[1].data);
});

// A minimal multipart/form-data reader: fields as strings, files as Buffers with their name.
function parseMultipart(body, contentType) {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType || '');
  if (!match) return null;
  const boundary = Buffer.from(`--${match[1] || match[2]}`);
  const parts = {};
  let start = body.indexOf(boundary);
  while (start !== -1) {
    const next = body.indexOf(boundary, start + boundary.length);
    if (next === -1) break;
    const part = body.subarray(start + boundary.length + 2, next - 2); // skip CRLF after / before
    const split = part.indexOf('\r\n\r\n');
    if (split !== -1) {
      const head = part.subarray(0, split).toString('latin1');
      const content = part.subarray(split + 4);
      const name = /name="([^"]*)"/i.exec(head);
      const filename = /filename="([^"]*)"/i.exec(head);
      if (name) parts[name[1]] = filename ? { filename: filename[1], data: content } : content.toString('utf8');
    }
    start = next;
  }
  return parts;
}

app.post('/bot:token/sendVoice', express.raw({ type: () => true, limit: '50mb' }), (req, res) => {
  const parts = parseMultipart(req.body, req.headers['content-type']);
  let voice = parts && parts.voice;
  // aiogram names the upload `attach://<id>` and sends the file under <id>.
  if (typeof voice === 'string' && voice.startsWith('attach://')) voice = parts[voice.slice(9)];
  if (!voice || typeof voice === 'string' || !parts.chat_id) {
    res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: voice upload and chat_id required' });
    return;
  }
  const chatId = String(parts.chat_id);
  const key = `${req.params.token}|${chatId}`;
  (voices[key] = voices[key] || []).push({
    chat_id: chatId, filename: voice.filename, data: voice.data.toString('base64'),
    message_thread_id: parts.message_thread_id || null, reply_parameters: parts.reply_parameters || null,
  });
  const botId = Number(String(req.params.token).split(':')[0]) || 666;
  res.json({ ok: true, result: {
    message_id: nextBotMessageId++, date: Math.floor(Date.now() / 1000),
    chat: { id: Number(chatId), type: 'private' },
    from: { id: botId, is_bot: true, first_name: 'RustyClaw Test', username: 'RustyTestBot' },
    voice: { file_id: `sent-${nextBotMessageId}`, file_unique_id: `su${nextBotMessageId}`, duration: 1,
      mime_type: 'audio/ogg', file_size: voice.data.length },
  } });
});
// sendPhoto (multipart, as bots upload images) records the photo bytes, read back with
// GET /_emulator/photos?botToken=...&chatId=... (base64, each read once).
const photos = {}; // `${token}|${chat_id}` -> [{chat_id, filename, data (base64)}]
app.post('/bot:token/sendPhoto', express.raw({ type: () => true, limit: '50mb' }), (req, res) => {
  const parts = parseMultipart(req.body, req.headers['content-type']);
  let photo = parts && parts.photo;
  if (typeof photo === 'string' && photo.startsWith('attach://')) photo = parts[photo.slice(9)];
  if (!photo || typeof photo === 'string' || !parts.chat_id) {
    res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: photo upload and chat_id required' });
    return;
  }
  const chatId = String(parts.chat_id);
  const key = `${req.params.token}|${chatId}`;
  (photos[key] = photos[key] || []).push({
    chat_id: chatId, filename: photo.filename, data: photo.data.toString('base64'),
  });
  const botId = Number(String(req.params.token).split(':')[0]) || 666;
  res.json({ ok: true, result: {
    message_id: nextBotMessageId++, date: Math.floor(Date.now() / 1000),
    chat: { id: Number(chatId), type: 'private' },
    from: { id: botId, is_bot: true, first_name: 'RustyClaw Test', username: 'RustyTestBot' },
    photo: [{ file_id: `sent-${nextBotMessageId}`, file_unique_id: `su${nextBotMessageId}`, width: 1, height: 1,
      file_size: photo.data.length }],
  } });
});
app.get('/_emulator/photos', (req, res) => {
  const key = `${req.query.botToken}|${req.query.chatId}`;
  const found = photos[key] || [];
  photos[key] = [];
  res.json({ ok: true, result: found });
});
app.get('/_emulator/voices', (req, res) => {
  const key = `${req.query.botToken}|${req.query.chatId}`;
  const found = voices[key] || [];
  voices[key] = [];
  res.json({ ok: true, result: found });
});

// Raw updates stored above are returned verbatim by getUpdates.
const originalFormat = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (update) => (update.raw ? update.raw : originalFormat(update));
app.use(emulator.webServer);

http.createServer(app).listen(port, '127.0.0.1', () => {
  console.log(`listening ${port}`);
});
