"""How the layer above the case reads on a page: its statuses in words."""

from __future__ import annotations


def register_vocabularies() -> None:
    """The codes this app stores, in words for the ``labels`` template library."""
    from investigations.models import Cluster, Investigation, Wave, WaveMember
    from tsops.models import Job
    from tsops.presentation import choices_vocabulary, vocabulary_register

    vocabulary_register("cluster_status", choices_vocabulary(Cluster.Status))
    vocabulary_register("cluster_origin", choices_vocabulary(Cluster.Origin))
    vocabulary_register("wave_status", choices_vocabulary(Wave.Status))
    vocabulary_register("wave_member_state", choices_vocabulary(WaveMember.State))
    vocabulary_register("investigation_status", choices_vocabulary(Investigation.Status))
    vocabulary_register("job_status", choices_vocabulary(Job.Status))
