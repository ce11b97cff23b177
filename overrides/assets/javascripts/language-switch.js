// The language switch keeps the reader's place: on page#section, the link to the other language
// leads to the same section of the twin page. Heading ids differ between languages (slugs of
// translated titles), but twins have the same headings in the same order (tests/test_reading.py),
// so the link carries the heading's position and the twin page turns it into its own heading's id.
(() => {
  const MARK = "#twin-heading-";
  const headings = [...document.querySelectorAll("article :is(h1, h2, h3, h4, h5, h6)[id]")];
  const links = [...document.querySelectorAll("a.md-select__link[hreflang]")]
    .filter(link => link.hreflang !== document.documentElement.lang);
  for (const link of links) link.dataset.page = link.href;

  if (location.hash.startsWith(MARK)) {
    const heading = headings[Number(location.hash.slice(MARK.length))];
    if (heading) location.replace("#" + heading.id);  // scrolls to it as a link to it would
    else history.replaceState(null, "", location.pathname + location.search);  // no twin: the top
  }

  function follow() {
    const position = headings.findIndex(heading => "#" + heading.id === decodeURIComponent(location.hash));
    for (const link of links) link.href = link.dataset.page + (position < 0 ? "" : MARK + position);
  }
  follow();
  addEventListener("hashchange", follow);
})();
