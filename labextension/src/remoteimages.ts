/**
 * Model output must not make the browser fetch anything: a Markdown image or an `<img>` tag would load its URL
 * as soon as it is rendered (a privacy leak, and a way for a prompt injection to phone home). Images become
 * links the user can choose to open; fenced code is left exactly as written.
 */

const FENCE = /^( {0,3})(`{3,}|~{3,})/;
const MD_IMAGE = /!\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
const MD_IMAGE_REF = /!\[([^\]\n]*)\]\[([^\]\n]*)\]/g;
const HTML_IMAGE = /<(img|image|picture|source|video|audio|iframe|object|embed)\b/gi;

function isInline(url: string): boolean {
  return /^data:image\/(png|jpeg|gif|webp);base64,/i.test(url);
}

function outsideCode(text: string): string {
  return text
    .replace(MD_IMAGE, (whole, alt: string, url: string) =>
      isInline(url) ? whole : `[image: ${alt.trim() || url}](${url})`
    )
    .replace(MD_IMAGE_REF, (_whole, alt: string, ref: string) => `[image: ${alt.trim() || ref}][${ref}]`)
    .replace(HTML_IMAGE, (_whole, tag: string) => `&lt;${tag}`);
}

/** The Markdown with every remote image turned into a link (inline `data:` images are kept). */
export function withoutRemoteImages(markdown: string): string {
  const out: string[] = [];
  let prose: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const match = FENCE.exec(line);
    if (fence === null) {
      if (match) {
        if (prose.length) {
          out.push(outsideCode(prose.join('\n')));
        }
        prose = [];
        fence = match[2];
        out.push(line);
      } else {
        prose.push(line);
      }
    } else {
      out.push(line);
      if (match && match[2][0] === fence[0] && match[2].length >= fence.length && line.trim() === match[2]) {
        fence = null;
      }
    }
  }
  if (prose.length) {
    out.push(outsideCode(prose.join('\n')));
  }
  // Joining the pieces back: a prose chunk of several lines is one element, so plain join keeps newlines.
  return out.join('\n');
}
