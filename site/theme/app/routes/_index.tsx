export { default, loader, meta, links } from './$';
