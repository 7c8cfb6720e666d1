import { describe, expect, it } from 'vitest';

import { withoutRemoteImages } from '../src/remoteimages';

describe('withoutRemoteImages', () => {
  it('turns a Markdown image into a link the user may open', () => {
    expect(withoutRemoteImages('a ![cat](http://x/c.png) b')).toBe('a [image: cat](http://x/c.png) b');
    expect(withoutRemoteImages('![z](https://z/z.png "title")')).toBe('[image: z](https://z/z.png)');
    expect(withoutRemoteImages('![](https://z/z.png)')).toBe('[image: https://z/z.png](https://z/z.png)');
    expect(withoutRemoteImages('![r][ref]\n\n[ref]: http://x/r.png')).toBe('[image: r][ref]\n\n[ref]: http://x/r.png');
  });

  it('escapes HTML tags that load things', () => {
    expect(withoutRemoteImages('<img src=http://x/a.png>')).toBe('&lt;img src=http://x/a.png>');
    expect(withoutRemoteImages('<IFRAME src="http://x">')).toBe('&lt;IFRAME src="http://x">');
    expect(withoutRemoteImages('<b>bold</b> <imgur>')).toBe('<b>bold</b> <imgur>');
  });

  it('keeps inline data images', () => {
    const md = '![dot](data:image/png;base64,iVBORw0KGgo=)';
    expect(withoutRemoteImages(md)).toBe(md);
  });

  it('leaves fenced code exactly as written', () => {
    const md = 'before ![a](http://a)\n```markdown\n![k](http://x/k.png)\n<img src=x>\n```\nafter ![z](http://z)';
    expect(withoutRemoteImages(md)).toBe(
      'before [image: a](http://a)\n```markdown\n![k](http://x/k.png)\n<img src=x>\n```\nafter [image: z](http://z)'
    );
    const tilde = '~~~~\n<img>\n```\n<img>\n~~~~\n<img>';
    expect(withoutRemoteImages(tilde)).toBe('~~~~\n<img>\n```\n<img>\n~~~~\n&lt;img>');
  });

  it('treats an unclosed fence (still streaming) as code', () => {
    expect(withoutRemoteImages('```\n<img src=x>')).toBe('```\n<img src=x>');
  });

  it('keeps text without images unchanged', () => {
    for (const md of ['', 'plain', 'a\n\n\nb', '  indented\n\ttab', 'array[0](x)']) {
      expect(withoutRemoteImages(md)).toBe(md);
    }
  });
});
