// One page of the book: the sidebar of pages, the article with its outline, previous/next links.
import type { PageLoader } from '@myst-theme/common';
import { ComputeOptionsProvider, ExecuteScopeProvider, BusyScopeProvider } from '@myst-theme/jupyter';
import { FrontmatterBlock } from '@myst-theme/frontmatter';
import {
  ArticleProvider,
  BannerStateProvider,
  ProjectProvider,
  TabStateProvider,
  UiStateProvider,
  useSiteManifest,
  useThemeTop,
} from '@myst-theme/providers';
import {
  DocumentOutline,
  FooterLinksBlock,
  Footnotes,
  PrimaryNavigation,
  TopNav,
  useOutlineHeight,
  useSidebarHeight,
} from '@myst-theme/site';
import { copyNode } from 'myst-common';
import { MyST } from 'myst-to-react';

export function Article({ page }: { page: PageLoader }) {
  return (
    <UiStateProvider>
      <BannerStateProvider>
        <ArticleWithNavigation page={page} />
      </BannerStateProvider>
    </UiStateProvider>
  );
}

function ArticleWithNavigation({ page }: { page: PageLoader }) {
  const top = useThemeTop();
  const { container, toc } = useSidebarHeight(top, 20);
  const { container: outline } = useOutlineHeight();
  const options = (useSiteManifest() as any)?.options ?? {};
  const tree = copyNode(page.mdast);
  return (
    <>
      <TopNav hideSearch />
      <PrimaryNavigation sidebarRef={toc} />
      <TabStateProvider>
        <main ref={container} className="article-grid grid-gap">
          <ProjectProvider>
            <ComputeOptionsProvider
              features={{ notebookCompute: false, figureCompute: false, launchBinder: false }}
            >
              <article ref={outline} className="article-grid subgrid-gap col-screen article content">
                <ArticleProvider
                  kind={page.kind}
                  references={{ ...page.references, article: page.mdast }}
                  frontmatter={page.frontmatter}
                >
                  <BusyScopeProvider>
                    <ExecuteScopeProvider enable={false} contents={page}>
                      <FrontmatterBlock kind={page.kind} frontmatter={page.frontmatter} className="mb-8 pt-9" />
                      {!options.hide_outline && (
                        <div
                          className="block my-10 lg:sticky lg:z-10 lg:h-0 lg:pt-0 lg:my-0 lg:ml-10 lg:col-margin-right"
                          style={{ top }}
                        >
                          <DocumentOutline className="relative mt-9" />
                        </div>
                      )}
                      <div id="skip-to-article" />
                      <MyST ast={tree} />
                      <Footnotes />
                      {!options.hide_footer_links && <FooterLinksBlock links={page.footer} />}
                    </ExecuteScopeProvider>
                  </BusyScopeProvider>
                </ArticleProvider>
              </article>
            </ComputeOptionsProvider>
          </ProjectProvider>
        </main>
      </TabStateProvider>
    </>
  );
}
