// A writer process for the concurrent-writes test: adds `count` rows with ids `<tag>-<n>`.
import { addTokenRow } from '../src/index.js';

const [path, tag, count] = process.argv.slice(2);
for (let i = 0; i < Number(count); i++) {
  await addTokenRow(path!, {
    id: `${tag}-${i}`,
    kind: 'pat',
    subject: tag!,
    secretHash:
      '$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  });
}
