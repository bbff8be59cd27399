"""Publish CSV files to Neo4j with Amundsen's databuilder, for usersvc's tests.

This module only drives databuilder's own code, the way its sample loader
(databuilder/example/scripts/sample_data_loader.py) does: for each job an
extractor reads the CSV, databuilder's FsNeo4jCSVLoader writes its node and
relationship files, and Neo4jCsvPublisher publishes them with the job's
publish tag (stamped as published_tag on every node and relationship).

    python databuilder_load.py JOBS.json

JOBS.json: {"work_dir": "<dir for the loader's files>",
            "jobs": [{"name": "users", "tag": "tag_1",
                      "model": "databuilder.models.user.User", "csv": "<path>"},
                     {"name": "tables", "tag": "tag_1",
                      "table_csv": "<path>", "column_csv": "<path>"}]}

A job with "model" runs CsvExtractor with that model class (run_csv_job in
the sample loader); one with "table_csv" and "column_csv" runs
CsvTableColumnExtractor (run_table_column_job). The connection comes from
the environment: NEO4J_URI (bolt://host:port), NEO4J_USER, NEO4J_PASSWORD,
plain Bolt (neo4j_encrypted false, as the sample loader sets it).
"""

import json
import logging
import os
import sys

from pyhocon import ConfigFactory

from databuilder.extractor.csv_extractor import CsvExtractor, CsvTableColumnExtractor
from databuilder.job.job import DefaultJob
from databuilder.loader.file_system_neo4j_csv_loader import FsNeo4jCSVLoader
from databuilder.publisher.neo4j_csv_publisher import Neo4jCsvPublisher
from databuilder.task.task import DefaultTask
from databuilder.transformer.base_transformer import NoopTransformer


def run_job(job, work_dir):
    folder = os.path.join(work_dir, job['name'])
    nodes = os.path.join(folder, 'nodes')
    relationships = os.path.join(folder, 'relationships')
    conf = {
        'loader.filesystem_csv_neo4j.node_dir_path': nodes,
        'loader.filesystem_csv_neo4j.relationship_dir_path': relationships,
        'loader.filesystem_csv_neo4j.delete_created_directories': True,
        'publisher.neo4j.node_files_directory': nodes,
        'publisher.neo4j.relation_files_directory': relationships,
        'publisher.neo4j.neo4j_endpoint': os.environ['NEO4J_URI'],
        'publisher.neo4j.neo4j_user': os.environ['NEO4J_USER'],
        'publisher.neo4j.neo4j_password': os.environ['NEO4J_PASSWORD'],
        'publisher.neo4j.neo4j_encrypted': False,
        'publisher.neo4j.job_publish_tag': job['tag'],
    }
    if 'model' in job:
        extractor = CsvExtractor()
        conf['extractor.csv.file_location'] = job['csv']
        conf['extractor.csv.model_class'] = job['model']
    else:
        extractor = CsvTableColumnExtractor()
        conf['extractor.csvtablecolumn.table_file_location'] = job['table_csv']
        conf['extractor.csvtablecolumn.column_file_location'] = job['column_csv']
    task = DefaultTask(extractor=extractor, loader=FsNeo4jCSVLoader(), transformer=NoopTransformer())
    DefaultJob(conf=ConfigFactory.from_dict(conf), task=task, publisher=Neo4jCsvPublisher()).launch()


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with open(sys.argv[1], encoding='utf8') as f:
        spec = json.load(f)
    for job in spec['jobs']:
        run_job(job, spec['work_dir'])
        print(f"published {job['name']} ({job['tag']})", flush=True)


if __name__ == '__main__':
    main()
