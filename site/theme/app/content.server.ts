// Reads the site that mystmd serves on its content server (config.json and one JSON file a page).
import fetch from 'node-fetch';
import type { SiteManifest } from 'myst-config';
import {
  MYST_SPEC_VERSION,
  type PageLoader,
  getFooterLinks,
  getProject,
  updatePageStaticLinksInplace,
  updateSiteManifestStaticLinksInplace,
} from '@myst-theme/common';
import { responseNoArticle, responseNoSite } from '@myst-theme/site';
import { migrate } from 'myst-migrate';

const CONTENT = `http://localhost:${process.env.CONTENT_CDN_PORT ?? '3100'}`;
const STATIC = process.env.MODE === 'static';

// Figures and other files: under the assets folder in a static build, on the content server otherwise.
function assetLink(url: string) {
  if (!url || /^https?:/.test(url)) return url;
  return STATIC ? `/myst_assets_folder${url}` : `${CONTENT}${url}`;
}

async function getJson<T>(path: string): Promise<T | null> {
  const response = await fetch(`${CONTENT}${path}`).catch(() => null);
  if (!response || !response.ok) return null;
  return (await response.json()) as T;
}

export async function getConfig(): Promise<SiteManifest> {
  const config = await getJson<SiteManifest>('/config.json');
  if (!config) throw responseNoSite();
  return updateSiteManifestStaticLinksInplace(config, assetLink);
}

export async function getPage(slug?: string): Promise<PageLoader> {
  const config = await getConfig();
  const project = getProject(config);
  if (!project) throw responseNoArticle();
  const pageSlug = slug ?? project.index;
  let page = await getJson<PageLoader & { version?: number }>(`/content/${pageSlug}.json`);
  if (!page) throw responseNoArticle();
  page = (await migrate({ ...page, version: page.version ?? 0 }, { to: MYST_SPEC_VERSION })) as any;
  const footer = getFooterLinks(config, undefined, pageSlug);
  return updatePageStaticLinksInplace({ ...page!, footer, domain: '', project: '' } as any, assetLink);
}
