// The template's app server: mystmd starts it (`npm run start`) with HOST, PORT and CONTENT_CDN_PORT set,
// fetches every page from it for `build --html`, and waits for the "http://" line below to know it is up.
const path = require('path');
const express = require('express');
const { createRequestHandler } = require('@remix-run/express');
const { installGlobals } = require('@remix-run/node');

installGlobals();

const app = express();
app.disable('x-powered-by');
app.use('/myst_assets_folder', express.static(path.join(__dirname, 'public', 'build'), { immutable: true }));
app.use(express.static(path.join(__dirname, 'public')));
app.all('*', createRequestHandler({ build: require(path.join(__dirname, 'build')), mode: 'production' }));

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 3000);
app.listen(port, host, () => console.log(`Server started at http://${host}:${port}`));
