// The page as JSON, as mystmd's static build expects beside each page's HTML.
import { json, type LoaderFunction } from '@remix-run/node';
import { getPage } from '~/content.server';

export const loader: LoaderFunction = async ({ params }) => json(await getPage(params.slug));
