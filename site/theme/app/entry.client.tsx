import { RemixBrowser } from '@remix-run/react';
import { startTransition } from 'react';
import { hydrateRoot } from 'react-dom/client';

// mystmd renders each page at /slug, while static hosts serve it at /slug/ (and under a base URL on GitHub Pages).
// Remix reloads a page whose URL differs from the one it was rendered at, forever here: take the served URL.
const context = (window as any).__remixContext;
if (context) context.url = window.location.pathname;

startTransition(() => {
  hydrateRoot(document, <RemixBrowser />);
});
