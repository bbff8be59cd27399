// Reads [{name, text, params}] as JSON on stdin and writes, as JSON on
// stdout, each statement's diagnostics from Neo4j's own Cypher parser and
// semantic analysis. Parameters a statement declares are defined for the
// linter, so an undeclared one is still reported.
import { lintCypherQuery } from '@neo4j-cypher/language-support';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const statements = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = statements.map(({ name, text, params }) => {
  const parameters = Object.fromEntries((params ?? []).map((p) => [p, '']));
  const { diagnostics } = lintCypherQuery(text, { parameters });
  return {
    name,
    diagnostics: diagnostics.map((d) => ({ severity: d.severity, message: d.message, offset: d.offsets?.start })),
  };
});
process.stdout.write(JSON.stringify(results));
