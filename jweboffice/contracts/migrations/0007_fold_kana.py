"""Write the small kana of stored company names large, as the bank's records do (see fold_kana)."""

from django.db import migrations

SMALL_KANA, LARGE_KANA = "ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ"  # frozen copy of models.fold_kana


def fold_kana(text: str) -> str:
    return text.translate(str.maketrans(SMALL_KANA, LARGE_KANA))


def fold_stored_kana(apps, schema_editor):
    Customer = apps.get_model("contracts", "Customer")
    for small in SMALL_KANA:
        for customer in Customer.objects.filter(kana__contains=small).only("pk", "kana"):
            Customer.objects.filter(pk=customer.pk).update(kana=fold_kana(customer.kana))


class Migration(migrations.Migration):
    dependencies = [("contracts", "0006_password_lock")]

    operations = [migrations.RunPython(fold_stored_kana, migrations.RunPython.noop)]
