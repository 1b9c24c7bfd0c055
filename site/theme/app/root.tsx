import type { LinksFunction, LoaderFunction, V2_MetaFunction } from '@remix-run/node';
import { Outlet, useLoaderData } from '@remix-run/react';
import type { SiteLoader } from '@myst-theme/common';
import { Document, getMetaTagsForSite, renderers } from '@myst-theme/site';
import { mergeRenderers } from '@myst-theme/providers';
import { JUPYTER_RENDERERS } from '@myst-theme/jupyter';
import tailwind from '~/styles/app.css';
import { getConfig } from '~/content.server';

export { AppErrorBoundary as ErrorBoundary } from '@myst-theme/site';

const RENDERERS = mergeRenderers([renderers, JUPYTER_RENDERERS]);

export const links: LinksFunction = () => [
  { rel: 'stylesheet', href: tailwind },
  // KaTeX's stylesheet and fonts, copied into the assets folder when the theme is built (no CDN)
  { rel: 'stylesheet', href: '/myst_assets_folder/katex/katex.min.css' },
];

export const meta: V2_MetaFunction<typeof loader> = ({ data }) =>
  getMetaTagsForSite({ title: data?.config?.title, description: data?.config?.description });

export const loader: LoaderFunction = async () => {
  const config = await getConfig();
  return {
    config,
    MODE: process.env.MODE === 'static' ? 'static' : 'app',
    BASE_URL: process.env.BASE_URL || undefined,
  };
};

export default function App() {
  const { config, MODE, BASE_URL } = useLoaderData<SiteLoader>();
  return (
    <Document
      config={config}
      staticBuild={MODE === 'static'}
      baseurl={BASE_URL}
      renderers={RENDERERS}
      head={
        <>
          <link rel="icon" href={`${BASE_URL || ''}/favicon.ico`} />
          <link rel="stylesheet" href={`${BASE_URL || ''}/myst-theme.css`} />
        </>
      }
    >
      <Outlet />
    </Document>
  );
}
