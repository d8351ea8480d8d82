// Extracts the ```ts blocks of the documentation so that the pack test can compile each one
// against the published tarballs, as a reader would paste it into an app.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The HTML comment that, on a line of its own just before a block, skips it (an excerpt). */
export const PARTIAL_MARKER = '<!-- snippet: partial -->';

export interface Snippet {
  /** The markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the block's first code line (the line after the opening fence). */
  line: number;
  code: string;
}

/** Every ```ts block of `markdown` not marked partial, with the line where its code starts. */
export function extractSnippets(file: string, markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const snippets: Snippet[] = [];
  let previous = '';
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!fence) {
      if (lines[i]!.trim() !== '') previous = lines[i]!.trim();
      continue;
    }
    const [, , marker, lang] = fence;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(marker!)) end++;
    if ((lang === 'ts' || lang === 'typescript') && previous !== PARTIAL_MARKER) {
      snippets.push({ file, line: start + 1, code: lines.slice(start, end).join('\n') });
    }
    previous = '';
    i = end;
  }
  return snippets;
}

/** The markdown files whose blocks are checked: README.md, docs/**, packages/*\/README.md. */
export function documentationFiles(root: string): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? walk(join(dir, entry.name))
        : entry.name.endsWith('.md')
          ? [join(dir, entry.name)]
          : [],
    );
  const packages = readdirSync(join(root, 'packages'))
    .map((name) => join(root, 'packages', name, 'README.md'))
    .filter((path) => {
      try {
        readFileSync(path);
        return true;
      } catch {
        return false;
      }
    });
  return [join(root, 'README.md'), ...walk(join(root, 'docs')).sort(), ...packages.sort()].map(
    (path) => relative(root, path),
  );
}

export function collectSnippets(root: string): Snippet[] {
  return documentationFiles(root).flatMap((file) =>
    extractSnippets(file, readFileSync(join(root, file), 'utf8')),
  );
}
