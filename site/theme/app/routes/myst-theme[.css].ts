import type { LoaderFunction } from '@remix-run/node';
import { cssResponse, themeCSS, type ThemeCssOptions } from '@myst-theme/site';
import { getConfig } from '~/content.server';

export const loader: LoaderFunction = async () =>
  cssResponse(themeCSS((await getConfig())?.options as ThemeCssOptions));
