// Steelyard service worker: makes the app installable and shows a friendly page when offline.
// Network first for everything (data must be fresh); the cache is only a fallback.
"use strict";
var CACHE = "steelyard-shell-v1";
var OFFLINE_URL = "/offline/";
var PRECACHE = [
  OFFLINE_URL,
  "/static/css/app.css",
  "/static/vendor/bootstrap-5.3.9/css/bootstrap.min.css",
  "/static/vendor/bootstrap-icons-1.13.2/font/bootstrap-icons.min.css",
  "/static/img/icon.svg"
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return Promise.all(PRECACHE.map(function (url) { return cache.add(url).catch(function () {}); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () { return caches.match(OFFLINE_URL); }));
    return;
  }
  if (new URL(request.url).pathname.indexOf("/static/") === 0) {
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () { return caches.match(request); }));
  }
});
