import { json, type LinksFunction, type LoaderFunction, type V2_MetaFunction } from '@remix-run/node';
import { useLoaderData } from '@remix-run/react';
import type { PageLoader } from '@myst-theme/common';
import { getMetaTagsForArticle } from '@myst-theme/site';
import { getConfig, getPage } from '~/content.server';
import { Article } from '~/Article';

export const links: LinksFunction = () => [];

export const meta: V2_MetaFunction = ({ data, location }) => {
  if (!data) return [];
  const siteTitle = data.config?.title ?? '';
  const title = data.page?.frontmatter?.title;
  return getMetaTagsForArticle({
    origin: '',
    url: location.pathname,
    title: title ? `${title}${siteTitle ? ` - ${siteTitle}` : ''}` : siteTitle,
    description: data.page?.frontmatter?.description ?? data.config?.description ?? undefined,
  });
};

export const loader: LoaderFunction = async ({ params }) => {
  const slug = (params['*'] ?? '').split('/').filter(Boolean).join('.') || undefined;
  const [config, page] = await Promise.all([getConfig(), getPage(slug)]);
  return json({ config, page });
};

export default function Page() {
  const { page } = useLoaderData() as { page: PageLoader };
  return <Article page={page} />;
}
