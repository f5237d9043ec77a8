'use strict';
// The reference peer of `make bench`: the seed app's Socket.IO behaviour
// (/work/shared/SEED.md), in memory, on Socket.IO 4.8. Only what the seed
// did, with its seat bug fixed: seats are shared per room, and `update` goes
// to that room only.
//
//   PORT=0 node server.js      (or: node server.js 0)   prints "listening on HOST:PORT"

const http = require('node:http');
const { Server } = require('socket.io');

const SEATS = 8;
const CHAIR = '🪑';
const AVATARS = ['🦊', '🐼', '🐸', '🐙', '🦉', '🐯', '🐨', '🦄'];

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT ?? process.argv[2] ?? 3000);

const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false });

const socketOfUser = new Map(); // userId -> socket id (login)
const rooms = new Map(); // room -> array of SEATS seats, null when free

const shown = (seats) =>
  seats.map((s) => s ?? { username: null, useravatar: CHAIR, userID: null });

// leave frees the socket's seat and tells the room; the last one out
// deletes the room.
function leave(socket) {
  const { room, seat, username } = socket.data;
  if (room === undefined) return;
  socket.data.room = undefined;
  socket.leave(room);
  const seats = rooms.get(room);
  seats[seat] = null;
  if (seats.every((s) => s === null)) {
    rooms.delete(room);
    return;
  }
  io.to(room).emit('update', shown(seats));
  io.to(room).emit('notice', `user ${username} left the room`);
}

io.on('connection', (socket) => {
  socket.on('login', (userId) => {
    socket.data.userId = String(userId);
    socketOfUser.set(socket.data.userId, socket.id);
  });

  socket.on('private-message', (data) => {
    if (data === null || typeof data !== 'object') return;
    const { to, ...rest } = data;
    const target = socketOfUser.get(String(to));
    if (target !== undefined) {
      io.to(target).emit('private-message', { ...rest, from: socket.data.userId });
    }
  });

  socket.on('joinroom', (data) => {
    const room = data?.room;
    if (typeof room !== 'string') return;
    if (socket.data.room === room) {
      socket.emit('update', shown(rooms.get(room)));
      return;
    }
    leave(socket);
    let seats = rooms.get(room);
    if (seats === undefined) {
      seats = new Array(SEATS).fill(null);
      rooms.set(room, seats);
    }
    const seat = seats.indexOf(null);
    if (seat < 0) {
      socket.emit('Full');
      return;
    }
    const username = String(data.username);
    seats[seat] = { username, useravatar: AVATARS[seat], userID: socket.data.userId ?? null };
    Object.assign(socket.data, { room, seat, username });
    socket.join(room);
    io.to(room).emit('update', shown(seats));
    io.to(room).emit('notice', `user ${username} entered the room`);
  });

  socket.on('group-message', (msg, uname) => {
    if (socket.data.room !== undefined) {
      io.to(socket.data.room).emit('group-message', { msg, uname });
    }
  });

  socket.on('disconnect', () => {
    if (socketOfUser.get(socket.data.userId) === socket.id) {
      socketOfUser.delete(socket.data.userId);
    }
    leave(socket);
  });
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
