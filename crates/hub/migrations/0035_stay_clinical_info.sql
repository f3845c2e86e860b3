-- A stay's clinical information as the HIS gave it (HIS API 1.8.0). admission_info: the
-- admission's department, bed, doctors, diagnosis and diagnoses (2401's mdtrtinfo fields and
-- diseinfo), written in the insert of the stay, before 2401 is sent; NULL when none was given.
-- discharge_info: the bedside click's 离院方式, department, bed and diagnoses (2402's) with the
-- discharge time it fixes, written in the save that fixes the 2402 msgid. Each a JSON object of the
-- fields given (trimmed, blank ones left out), so a 2401 or 2402 resent under its msgid after a
-- crash carries the same input. NULL on a stay written by a hub before these columns: its 2401 and
-- 2402 go with the fields they always had.
ALTER TABLE stays ADD COLUMN admission_info TEXT;
ALTER TABLE stays ADD COLUMN discharge_info TEXT;
